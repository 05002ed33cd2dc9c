import { createPostgresEventStore, SqlProjectionStore, SqlReadModelStore } from 'potter/postgres';
import { describeProjectionEngineContract } from '../../contracts/projection-engine.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';

const pg = usePostgresSchemas('proj_engine', { max: 12 });

describeProjectionEngineContract('PostgreSQL event store, SQL stores (transactional)', async () => {
  const eventStore = await createPostgresEventStore({ pool: pg.pool(), schema: pg.schema() });
  return {
    eventStore,
    store: () => SqlProjectionStore.for(eventStore),
    readModels: () => SqlReadModelStore.for(eventStore),
    delivery: 'transactional',
    cleanup: async () => eventStore.close(),
  };
});
