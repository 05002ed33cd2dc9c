import { MemoryEventStore } from '../../../src/eventsourcing/memory/memory-event-store';
import { StreamDeletedError } from '../../../src/core/errors';
import { sagaStreamId } from '../../../src/saga/saga-event-log';
import { MemorySagaStore } from '../../../src/saga/saga-store';
import { describeSagaStoreEvents, eventsOf, streamOf } from '../../contracts/saga-store-events.contract';
import { lease, next, sagaState } from '../../contracts/saga-store.contract';

describeSagaStoreEvents('MemorySagaStore({ eventStore })', async () => {
  const eventStore = new MemoryEventStore();
  const store = new MemorySagaStore({ eventStore });
  return { store, eventStore, cleanup: () => store.close() };
});

describe('MemorySagaStore without an event store', () => {
  it('records nothing and has no eventStore', async () => {
    const store = new MemorySagaStore();
    expect(store.eventStore).toBeUndefined();
    const created = sagaState();
    await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
    const saved = next(created, { status: 'completed' });
    await store.save(saved, lease('a'), eventsOf(saved, ['saga.completed']));
    await expect(store.load(created.sagaId)).resolves.toEqual(saved);
  });

  it('keeps events given to another store out of an unrelated event store', async () => {
    const eventStore = new MemoryEventStore();
    const recording = new MemorySagaStore({ eventStore });
    const quiet = new MemorySagaStore();
    const created = sagaState();
    await quiet.create(created, lease('a'), eventsOf(created, ['saga.started']));
    await recording.create(sagaState(), lease('a'));
    await expect(streamOf(eventStore, created.sagaId)).resolves.toEqual([]);
  });
});

describe('MemorySagaStore({ eventStore }) when the event store refuses the events', () => {
  it('keeps neither the state nor the events (a deleted saga stream)', async () => {
    const eventStore = new MemoryEventStore();
    const store = new MemorySagaStore({ eventStore });
    const created = sagaState();
    await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
    await eventStore.deleteStream(sagaStreamId(created.sagaId));

    const saved = next(created, { status: 'completed' });
    await expect(store.save(saved, lease('a'), eventsOf(saved, ['saga.completed']))).rejects.toThrow(
      StreamDeletedError,
    );
    await expect(store.load(created.sagaId)).resolves.toEqual(created);
    // Still held by its owner: the save can be made once the events can be recorded.
    await expect(store.save(saved, lease('a'))).resolves.toBeUndefined();

    const other = sagaState();
    await eventStore.appendToStream(sagaStreamId(other.sagaId), [{ type: 'x', payload: {} }]);
    await eventStore.deleteStream(sagaStreamId(other.sagaId));
    await expect(store.create(other, lease('a'), eventsOf(other, ['saga.started']))).rejects.toThrow(
      StreamDeletedError,
    );
    await expect(store.load(other.sagaId)).resolves.toBeUndefined();
  });
});
