import { Event } from '../metadata/message.decorators';
import type { SagaErrorInfo, SagaEvent, SagaEventType, SagaStatus } from './types';

/**
 * Base of the saga events published on the EventBus (`SagaModule`): every one carries the saga
 * id, its definition's name, the correlation id (also the event's metadata correlation id), the
 * status after the transition, and the clock time.
 */
export abstract class SagaBusEvent {
  readonly sagaId!: string;
  readonly sagaName!: string;
  readonly correlationId!: string;
  readonly status!: SagaStatus;
  /** The step, for step and compensation events. */
  readonly step?: string;
  /** The attempt, for step and compensation events. */
  readonly attempt?: number;
  /** For failures: whether another attempt follows. */
  readonly willRetry?: boolean;
  readonly error?: SagaErrorInfo;
  /** The saga's business key, on `SagaStarted` (when it has one). */
  readonly businessKey?: string;
  /** On `SagaStarted`: when the saga was created (`at` is when it began running). */
  readonly startedAt?: number;
  /** When it happened (ms since the epoch). */
  readonly at!: number;

  constructor(event?: SagaEvent) {
    if (event === undefined) return;
    const { type: _type, ...fields } = event;
    Object.assign(this, fields);
  }
}

/** `saga.started`: the saga is running. */
@Event('potter.SagaStarted')
export class SagaStarted extends SagaBusEvent {}
/** `saga.step.started`: an attempt of a step begins. */
@Event('potter.SagaStepStarted')
export class SagaStepStarted extends SagaBusEvent {}
/** `saga.step.completed`: a step succeeded. */
@Event('potter.SagaStepCompleted')
export class SagaStepCompleted extends SagaBusEvent {}
/** `saga.step.failed`: an attempt of a step failed (`willRetry` says whether another follows). */
@Event('potter.SagaStepFailed')
export class SagaStepFailed extends SagaBusEvent {}
/** `saga.step.skipped`: a conditional step's predicate was false. */
@Event('potter.SagaStepSkipped')
export class SagaStepSkipped extends SagaBusEvent {}
/** `saga.compensation.started`: an attempt to compensate a step begins. */
@Event('potter.SagaCompensationStarted')
export class SagaCompensationStarted extends SagaBusEvent {}
/** `saga.compensation.completed`: a step was compensated. */
@Event('potter.SagaCompensationCompleted')
export class SagaCompensationCompleted extends SagaBusEvent {}
/** `saga.compensation.failed`: an attempt to compensate a step failed. */
@Event('potter.SagaCompensationFailed')
export class SagaCompensationFailed extends SagaBusEvent {}
/** `saga.completed`: every step succeeded. */
@Event('potter.SagaCompleted')
export class SagaCompleted extends SagaBusEvent {}
/** `saga.failed`: a step failed for good (compensation follows if any step needs undoing). */
@Event('potter.SagaFailed')
export class SagaFailed extends SagaBusEvent {}
/** `saga.compensated`: every completed step of a failed saga was undone. */
@Event('potter.SagaCompensated')
export class SagaCompensated extends SagaBusEvent {}
/** `saga.cancelled`: a cancelled saga was undone. */
@Event('potter.SagaCancelled')
export class SagaCancelled extends SagaBusEvent {}
/** `saga.compensation_failed`: a compensation kept failing; the saga waits for an operator. */
@Event('potter.SagaCompensationExhausted')
export class SagaCompensationExhausted extends SagaBusEvent {}
/** `saga.resolved`: an operator marked a `compensation_failed` saga resolved. */
@Event('potter.SagaResolved')
export class SagaResolved extends SagaBusEvent {}

/** The EventBus class of each saga event type. */
export const SAGA_EVENT_CLASSES: Readonly<Record<SagaEventType, new (event?: SagaEvent) => SagaBusEvent>> = {
  'saga.started': SagaStarted,
  'saga.step.started': SagaStepStarted,
  'saga.step.completed': SagaStepCompleted,
  'saga.step.failed': SagaStepFailed,
  'saga.step.skipped': SagaStepSkipped,
  'saga.compensation.started': SagaCompensationStarted,
  'saga.compensation.completed': SagaCompensationCompleted,
  'saga.compensation.failed': SagaCompensationFailed,
  'saga.completed': SagaCompleted,
  'saga.failed': SagaFailed,
  'saga.compensated': SagaCompensated,
  'saga.cancelled': SagaCancelled,
  'saga.compensation_failed': SagaCompensationExhausted,
  'saga.resolved': SagaResolved,
};

/** The EventBus event of a saga event. */
export function toSagaBusEvent(event: SagaEvent): SagaBusEvent {
  return new SAGA_EVENT_CLASSES[event.type](event);
}
