import { MemorySagaViews } from '../../../src/saga/monitoring/memory-saga-views';
import { describeSagaViewStoreContract } from '../../contracts/saga-views.contract';

describeSagaViewStoreContract(
  'memory',
  async () => {
    const views = new MemorySagaViews();
    return { views, cleanup: () => views.close() };
  },
  { numRuns: 200 },
);
