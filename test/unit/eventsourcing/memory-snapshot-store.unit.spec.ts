import { MemorySnapshotStore } from 'potter';
import { describeSnapshotStoreContract } from '../../contracts/snapshot-store.contract';

describeSnapshotStoreContract('memory', async () => ({
  store: new MemorySnapshotStore(),
  cleanup: async () => undefined,
}));
