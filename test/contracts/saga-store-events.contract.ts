// The saga modules themselves, not the barrel (which loads the orchestrator and its decorators).
import type { EventStore, RecordedEvent } from '../../src/eventsourcing/event-store';
import { SagaConflictError, SagaOwnershipLostError } from '../../src/saga/errors';
import { SAGA_EVENT_TYPE_NAMES, sagaEventOf, sagaStreamId } from '../../src/saga/saga-event-log';
import type { SagaStore } from '../../src/saga/saga-store';
import type { SagaEvent, SagaEventType, SagaState } from '../../src/saga/types';
import { lease, next, sagaState } from './saga-store.contract';

/** What a saga store that records events gives the suite. */
export interface SagaStoreEventsFixture {
  /** A store made to record its events in `eventStore`. */
  store: SagaStore;
  eventStore: EventStore;
  cleanup(): Promise<void>;
}

/** The saga events of one transition of `state` (as the orchestrator gives them to the store). */
export function eventsOf(
  state: SagaState,
  ...items: [SagaEventType, Partial<Omit<SagaEvent, 'type'>>?][]
): SagaEvent[] {
  return items.map(([type, fields], i) => ({
    type,
    sagaId: state.sagaId,
    sagaName: state.sagaName,
    correlationId: state.correlationId,
    status: state.status,
    at: state.updatedAt + i,
    ...fields,
  }));
}

/** The recorded events of a saga's stream. */
export function streamOf(eventStore: EventStore, sagaId: string): Promise<RecordedEvent[]> {
  return eventStore.readStream(sagaStreamId(sagaId));
}

/**
 * A saga store that records events (`SqlSagaStore.for(sqlEventStore)`, `new MemorySagaStore({
 * eventStore })`): each write's events land in `potter.saga-<id>` with the state, or not at all.
 */
export function describeSagaStoreEvents(name: string, factory: () => Promise<SagaStoreEventsFixture>): void {
  describe(`Saga store recording events: ${name}`, () => {
    let store: SagaStore;
    let eventStore: EventStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ store, eventStore, cleanup } = await factory()));
    afterEach(() => cleanup());

    it('exposes the event store it records in', () => {
      expect(store.eventStore).toBe(eventStore);
    });

    it('records each write’s events in the saga’s stream, in order, with types and correlation', async () => {
      const created = sagaState({ businessKey: 'ord-1' });
      const started = eventsOf(created, [
        'saga.started',
        { businessKey: 'ord-1', startedAt: created.startedAt },
      ]);
      await store.create(created, lease('a'), started);
      const running = next(created, { status: 'running', currentStep: 'reserve' });
      const step = eventsOf(
        running,
        ['saga.step.started', { step: 'reserve', attempt: 1 }],
        ['saga.step.completed', { step: 'reserve', attempt: 1 }],
      );
      await store.save(running, lease('a'), step);
      const done = next(running, { status: 'completed' });
      const completed = eventsOf(done, ['saga.completed']);
      await store.save(done, lease('a'), completed);

      const recorded = await streamOf(eventStore, created.sagaId);
      const all = [...started, ...step, ...completed];
      expect(recorded.map((event) => event.type)).toEqual([
        'potter.SagaStarted',
        'potter.SagaStepStarted',
        'potter.SagaStepCompleted',
        'potter.SagaCompleted',
      ]);
      expect(recorded.map((event) => event.type)).toEqual(
        all.map((event) => SAGA_EVENT_TYPE_NAMES[event.type]),
      );
      expect(recorded.map((event) => event.streamVersion)).toEqual([1, 2, 3, 4]);
      expect(recorded.map((event) => event.streamId)).toEqual(Array(4).fill(`potter.saga-${created.sagaId}`));
      for (const event of recorded) {
        expect(event.metadata).toMatchObject({
          correlationId: created.correlationId,
          causationId: created.sagaId,
        });
      }
      // Read back, they are the saga events given, numbered by their place in the stream.
      expect(recorded.map((event) => sagaEventOf(event))).toEqual(
        all.map((event, i) => ({ ...event, seq: i + 1 })),
      );
      await expect(store.load(created.sagaId)).resolves.toEqual(done);
    });

    it('records payloads as JSON: errors and undefined fields survive as JSON does', async () => {
      const created = sagaState();
      await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
      const failing = next(created, { status: 'running' });
      await store.save(
        failing,
        lease('a'),
        eventsOf(failing, [
          'saga.step.failed',
          {
            step: 'charge',
            attempt: 1,
            willRetry: true,
            error: { name: 'TimeoutError', message: 'no answer', code: undefined },
          },
        ]),
      );
      const [, failed] = await streamOf(eventStore, created.sagaId);
      expect(failed!.payload).toEqual({
        sagaId: created.sagaId,
        sagaName: 'order',
        correlationId: created.correlationId,
        status: 'running',
        step: 'charge',
        attempt: 1,
        willRetry: true,
        error: { name: 'TimeoutError', message: 'no answer' },
        at: failing.updatedAt,
      });
      expect('code' in (failed!.payload.error as object)).toBe(false);
    });

    it('records nothing for a write without events (undefined or empty), and still writes the state', async () => {
      const created = sagaState();
      await store.create(created, lease('a'));
      const saved = next(created, { status: 'running' });
      await store.save(saved, lease('a'), []);
      await expect(store.load(created.sagaId)).resolves.toEqual(saved);
      await expect(streamOf(eventStore, created.sagaId)).resolves.toEqual([]);
      const later = next(saved);
      await store.save(later, lease('a'), eventsOf(later, ['saga.step.started', { step: 'x', attempt: 1 }]));
      const recorded = await streamOf(eventStore, created.sagaId);
      expect(recorded.map((event) => [event.type, event.streamVersion])).toEqual([
        ['potter.SagaStepStarted', 1],
      ]);
    });

    it('records nothing for a save refused to another owner (SagaOwnershipLostError)', async () => {
      const created = sagaState();
      await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
      const stolen = next(created, { status: 'running' });
      await expect(
        store.save(stolen, lease('b'), eventsOf(stolen, ['saga.step.started', { step: 'x', attempt: 1 }])),
      ).rejects.toBeInstanceOf(SagaOwnershipLostError);
      const recorded = await streamOf(eventStore, created.sagaId);
      expect(recorded.map((event) => event.type)).toEqual(['potter.SagaStarted']);
      await expect(store.load(created.sagaId)).resolves.toEqual(created);
    });

    it('records nothing for a save of a stale version (SagaOwnershipLostError)', async () => {
      const created = sagaState();
      await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
      const saved = next(created, { status: 'running' });
      await store.save(saved, lease('a'), eventsOf(saved, ['saga.step.started', { step: 'x', attempt: 1 }]));
      // The same version again (a replayed write), and one skipping a version.
      for (const stale of [saved, next(next(saved))]) {
        await expect(
          store.save(stale, lease('a'), eventsOf(stale, ['saga.step.completed', { step: 'x', attempt: 1 }])),
        ).rejects.toBeInstanceOf(SagaOwnershipLostError);
      }
      const recorded = await streamOf(eventStore, created.sagaId);
      expect(recorded.map((event) => event.type)).toEqual(['potter.SagaStarted', 'potter.SagaStepStarted']);
    });

    it('records nothing for a save of an unknown saga', async () => {
      const ghost = next(sagaState());
      await expect(store.save(ghost, lease('a'), eventsOf(ghost, ['saga.completed']))).rejects.toBeInstanceOf(
        SagaOwnershipLostError,
      );
      await expect(streamOf(eventStore, ghost.sagaId)).resolves.toEqual([]);
    });

    it('records nothing for a create with a taken id (SagaConflictError)', async () => {
      const first = sagaState({ sagaId: 'taken' });
      await store.create(first, lease('a'), eventsOf(first, ['saga.started']));
      const second = sagaState({ sagaId: 'taken', sagaName: 'refund' });
      await expect(
        store.create(second, lease('b'), eventsOf(second, ['saga.started'], ['saga.step.started'])),
      ).rejects.toBeInstanceOf(SagaConflictError);
      const recorded = await streamOf(eventStore, 'taken');
      expect(recorded).toHaveLength(1);
      expect(recorded[0]!.payload).toMatchObject({ sagaName: 'order', correlationId: first.correlationId });
    });

    it('records nothing for a create with the business key of an open saga (SagaConflictError)', async () => {
      const first = sagaState({ businessKey: 'ord-7' });
      await store.create(first, lease('a'), eventsOf(first, ['saga.started']));
      const second = sagaState({ businessKey: 'ord-7' });
      await expect(
        store.create(second, lease('b'), eventsOf(second, ['saga.started'])),
      ).rejects.toBeInstanceOf(SagaConflictError);
      await expect(streamOf(eventStore, second.sagaId)).resolves.toEqual([]);
      // Once the first has settled, the key is free: the next create records its events.
      const done = next(first, { status: 'completed' });
      await store.save(done, lease('a'), eventsOf(done, ['saga.completed']));
      await store.create(second, lease('b'), eventsOf(second, ['saga.started']));
      await expect(streamOf(eventStore, second.sagaId)).resolves.toHaveLength(1);
    });

    it('keeps the streams of sagas apart', async () => {
      const a = sagaState();
      const b = sagaState();
      await store.create(a, lease('x'), eventsOf(a, ['saga.started']));
      await store.create(b, lease('x'), eventsOf(b, ['saga.started']));
      const a2 = next(a, { status: 'completed' });
      await store.save(a2, lease('x'), eventsOf(a2, ['saga.completed']));
      expect((await streamOf(eventStore, a.sagaId)).map((event) => event.streamVersion)).toEqual([1, 2]);
      expect((await streamOf(eventStore, b.sagaId)).map((event) => event.payload.sagaId)).toEqual([b.sagaId]);
    });
  });
}
