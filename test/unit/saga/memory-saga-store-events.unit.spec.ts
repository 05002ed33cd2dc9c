import { MemoryEventStore } from '../../../src/eventsourcing/memory/memory-event-store';
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
