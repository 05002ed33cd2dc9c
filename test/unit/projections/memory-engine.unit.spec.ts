import { MemoryEventStore, MemoryProjectionStore, MemoryReadModelStore } from 'potter';
import { describeProjectionEngineContract } from '../../contracts/projection-engine.contract';

describeProjectionEngineContract('memory event store, memory stores', async () => {
  const store = new MemoryProjectionStore();
  const readModels = new MemoryReadModelStore();
  const eventStore = new MemoryEventStore();
  return {
    eventStore,
    store: () => store,
    readModels: () => readModels,
    delivery: 'at-least-once',
    cleanup: async () => eventStore.close(),
  };
});
