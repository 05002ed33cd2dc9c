import { migrateEventStore, PGliteSqlClient, SqlProjectionStore, SqlReadModelStore } from 'potter/pglite';
import { describeProjectionStoreContract } from '../../contracts/projection-store.contract';
import { describeReadModelStoreContract } from '../../contracts/read-model-store.contract';

// One PGlite database for the file (starting one takes seconds); every test gets its own schema.
let client: PGliteSqlClient;
let schemas = 0;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

describeProjectionStoreContract('PGlite', async () => {
  const schema = `projections_${++schemas}`;
  const store = await SqlProjectionStore.create(client, { schema });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
});

describeReadModelStoreContract(
  'PGlite',
  async () => {
    const schema = `read_models_${++schemas}`;
    const store = await SqlReadModelStore.create(client, { schema });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  },
  { transactional: true },
);

describe('SQL projection stores on PGlite', () => {
  it('leave the client open on close, and work beside the event store (same migrations)', async () => {
    const schema = 'beside_event_store';
    await migrateEventStore(client, { schema });
    const projections = SqlProjectionStore.for({ client, schema });
    const readModels = SqlReadModelStore.for({ client, schema });
    expect(projections.sql).toBe(client);
    expect(readModels.sql).toBe(client);
    const { lease } = (await projections.acquire('p', 'me', 1_000, { position: '' }))!;
    await client.transaction(async (tx) => {
      await readModels.collection('docs', { tx }).put('a', { n: 1 });
      await projections.commit(lease, { position: 'p-1' }, tx);
    });
    await projections.close();
    await readModels.close();
    await expect(projections.get('p')).resolves.toMatchObject({ position: 'p-1' });
    await expect(readModels.collection('docs').get('a')).resolves.toEqual({ n: 1 });
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
  });

  it('does not migrate with migrate: false', async () => {
    const store = await SqlProjectionStore.create(client, { schema: 'not_migrated', migrate: false });
    await expect(store.get('p')).rejects.toThrow();
  });
});
