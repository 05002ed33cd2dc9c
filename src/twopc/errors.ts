import { PotterError } from '../core/errors';

/** `begin` was called with the id of a transaction the coordinator log already holds. */
export class TwoPhaseConflictError extends PotterError {
  constructor(txId: string) {
    super('POTTER_TWOPC_CONFLICT', `A two-phase transaction ${txId} exists already.`, { details: { txId } });
  }
}

/** The coordinator log has no transaction with this id. */
export class TwoPhaseTransactionNotFoundError extends PotterError {
  constructor(txId: string) {
    super('POTTER_TWOPC_NOT_FOUND', `No two-phase transaction ${txId} is in the coordinator log.`, {
      details: { txId },
    });
  }
}

/**
 * The coordinator was closed while it drove a transaction. The transaction stays unfinished in the
 * log, and `recover()` (on this or another coordinator) finishes it once the lease expired.
 */
export class TwoPhaseCoordinatorStoppedError extends PotterError {
  constructor(txId: string, owner: string) {
    super(
      'POTTER_TWOPC_STOPPED',
      `Coordinator ${owner} stopped while driving transaction ${txId}; recovery will finish it.`,
      { details: { txId, owner } },
    );
  }
}
