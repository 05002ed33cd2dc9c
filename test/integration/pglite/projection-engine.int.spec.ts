import {
  createPGliteEventStore,
  PGliteSqlClient,
  SqlProjectionStore,
  SqlReadModelStore,
} from 'potter/pglite';
import { describeProjectionEngineContract } from '../../contracts/projection-engine.contract';

// One PGlite database for the file (starting one takes seconds); every test gets its own schema.
let client: PGliteSqlClient;
let schemas = 0;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

describeProjectionEngineContract('PGlite event store, SQL stores (transactional)', async () => {
  const schema = `engine_${++schemas}`;
  const eventStore = await createPGliteEventStore({ db: client.db, schema });
  return {
    eventStore,
    store: () => SqlProjectionStore.for(eventStore),
    readModels: () => SqlReadModelStore.for(eventStore),
    delivery: 'transactional',
    cleanup: async () => {
      await eventStore.close();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
});
