import type { NewEvent, RecordedEvent } from '../eventsourcing/event-store';
import type { SagaEvent, SagaEventType } from './types';

/**
 * Prefix of the event-store streams saga events are recorded in: `potter.saga-<sagaId>`, one per
 * saga, written by a saga store made to record events (`SqlSagaStore.for(sqlEventStore)`,
 * `new MemorySagaStore({ eventStore })`) in the same transaction as the
 * saga's state.
 */
export const SAGA_STREAM_PREFIX = 'potter.saga-';

/** The stream a saga's events are recorded in. */
export function sagaStreamId(sagaId: string): string {
  return `${SAGA_STREAM_PREFIX}${sagaId}`;
}

/** The stored type name of each saga event type (the `@Event` names of the EventBus classes). */
export const SAGA_EVENT_TYPE_NAMES: Readonly<Record<SagaEventType, string>> = {
  'saga.started': 'potter.SagaStarted',
  'saga.step.started': 'potter.SagaStepStarted',
  'saga.step.completed': 'potter.SagaStepCompleted',
  'saga.step.failed': 'potter.SagaStepFailed',
  'saga.step.skipped': 'potter.SagaStepSkipped',
  'saga.compensation.started': 'potter.SagaCompensationStarted',
  'saga.compensation.completed': 'potter.SagaCompensationCompleted',
  'saga.compensation.failed': 'potter.SagaCompensationFailed',
  'saga.completed': 'potter.SagaCompleted',
  'saga.failed': 'potter.SagaFailed',
  'saga.compensated': 'potter.SagaCompensated',
  'saga.cancelled': 'potter.SagaCancelled',
  'saga.compensation_failed': 'potter.SagaCompensationExhausted',
  'saga.resolved': 'potter.SagaResolved',
};

const SAGA_EVENT_TYPES_BY_NAME: ReadonlyMap<string, SagaEventType> = new Map(
  (Object.entries(SAGA_EVENT_TYPE_NAMES) as [SagaEventType, string][]).map(([type, name]) => [name, type]),
);

/** The events of one saga transition as event-store events (correlated, caused by the saga). @internal */
export function toSagaStoreEvents(events: readonly SagaEvent[]): NewEvent[] {
  return events.map((event) => {
    const { type, ...payload } = event;
    return {
      type: SAGA_EVENT_TYPE_NAMES[type],
      payload: JSON.parse(JSON.stringify(payload)) as Record<string, unknown>,
      metadata: { correlationId: event.correlationId, causationId: event.sagaId },
    };
  });
}

/** A saga event read back from the event store, with its place in the saga's stream. */
export interface RecordedSagaEvent extends SagaEvent {
  /** 1 for the saga's first event, then +1 per event (the stream version). */
  readonly seq: number;
}

/** The saga event stored as `recorded`, or `undefined` when it is not a saga event. */
export function sagaEventOf(recorded: RecordedEvent): RecordedSagaEvent | undefined {
  const type = SAGA_EVENT_TYPES_BY_NAME.get(recorded.type);
  if (type === undefined || !recorded.streamId.startsWith(SAGA_STREAM_PREFIX)) return undefined;
  const payload = recorded.payload as Omit<SagaEvent, 'type'>;
  if (typeof payload.sagaId !== 'string' || typeof payload.at !== 'number') return undefined;
  return { ...payload, type, seq: recorded.streamVersion };
}
