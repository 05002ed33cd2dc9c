import { MemoryEventStore } from 'potter';
import { describeEventStoreContract } from '../../contracts/event-store.contract';

describeEventStoreContract('memory', async () => {
  const store = new MemoryEventStore();
  return { store, cleanup: () => store.close() };
});
