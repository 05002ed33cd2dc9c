import { MemoryProjectionStore, MemoryReadModelStore, type ReadModelStore } from 'potter';
import { describeProjectionStoreContract } from '../../contracts/projection-store.contract';
import { describeReadModelStoreContract } from '../../contracts/read-model-store.contract';

describeProjectionStoreContract('memory', async () => {
  const store = new MemoryProjectionStore();
  return { store, cleanup: () => store.close() };
});

describeReadModelStoreContract('memory', async () => {
  const store = new MemoryReadModelStore();
  return { store, cleanup: () => store.close() };
});

describe('MemoryReadModelStore', () => {
  it('has no SQL database', () => {
    const store: ReadModelStore = new MemoryReadModelStore();
    expect(store.sql).toBeUndefined();
  });
});
