import { PotterError, TimeoutError, isPotterError } from '../core/errors';
import type { SagaErrorInfo, SagaStatus } from './types';

/** The reason given to step signals when a saga is cancelled. */
export class SagaCancelledError extends PotterError {
  constructor(sagaId: string, reason?: string) {
    super(
      'POTTER_SAGA_CANCELLED',
      `Saga ${sagaId} was cancelled${reason === undefined ? '' : `: ${reason}`}.`,
      {
        details: { sagaId, reason },
      },
    );
  }
}

/** No saga with this id is known to the orchestrator. */
export class SagaNotFoundError extends PotterError {
  constructor(sagaId: string) {
    super('POTTER_SAGA_NOT_FOUND', `No saga ${sagaId} is known.`, { details: { sagaId } });
  }
}

/** An operation is not allowed in the saga's current status. */
export class SagaStateError extends PotterError {
  constructor(sagaId: string, status: SagaStatus, operation: string) {
    super('POTTER_SAGA_STATE', `Cannot ${operation} saga ${sagaId}: it is ${status}.`, {
      details: { sagaId, status, operation },
    });
  }
}

/** A saga with the same id, or an active saga with the same business key, exists. */
export class SagaConflictError extends PotterError {
  constructor(message: string, details: Record<string, unknown>) {
    super('POTTER_SAGA_CONFLICT', message, { details });
  }
}

/** A saga query (`ListSagas`, `GetSagaHistory`, …) with invalid arguments: a bad cursor, limit, time or status. */
export class SagaQueryError extends PotterError {
  constructor(message: string, details: Record<string, unknown>) {
    super('POTTER_SAGA_INVALID_QUERY', message, { details });
  }
}

/** The serializable form of a thrown value. */
export function errorInfo(error: unknown): SagaErrorInfo {
  if (error instanceof Error) {
    return isPotterError(error)
      ? { name: error.name, message: error.message, code: error.code }
      : { name: error.name, message: error.message };
  }
  return { name: 'Error', message: String(error) };
}

/** True for the errors that mean "the attempt was cut short" rather than "the step refused". */
export function isInterruption(error: unknown): boolean {
  return (
    error instanceof TimeoutError || error instanceof SagaCancelledError || error instanceof SagaAbortedError
  );
}

/** The reason given to the other branches of a parallel group when one of them fails. */
export class SagaAbortedError extends PotterError {
  constructor(sagaId: string, group: string, failedStep: string) {
    super(
      'POTTER_SAGA_ABORTED',
      `Saga ${sagaId}: parallel group ${group} aborted because ${failedStep} failed.`,
      {
        details: { sagaId, group, failedStep },
      },
    );
  }
}

/**
 * An orchestrator instance lost its hold on a saga (its lease expired and another instance claimed
 * the saga, or the stored version moved on): it stops running the saga and writes nothing more.
 */
export class SagaOwnershipLostError extends PotterError {
  constructor(sagaId: string, owner: string) {
    super('POTTER_SAGA_OWNERSHIP_LOST', `Orchestrator ${owner} no longer holds saga ${sagaId}.`, {
      details: { sagaId, owner },
    });
  }
}
