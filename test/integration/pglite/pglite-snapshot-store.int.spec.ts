import { createPGliteEventStore, PGliteSqlClient, SqlSnapshotStore } from 'potter/pglite';
import { describeSnapshotStoreContract } from '../../contracts/snapshot-store.contract';

let client: PGliteSqlClient;
let schemas = 0;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

describeSnapshotStoreContract('PGlite', async () => {
  const schema = `snapshots_${++schemas}`;
  const eventStore = await createPGliteEventStore({ db: client.db, schema });
  return {
    store: SqlSnapshotStore.for(eventStore),
    cleanup: async () => {
      await eventStore.close();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
});
