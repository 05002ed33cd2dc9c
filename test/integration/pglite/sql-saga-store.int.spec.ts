import { migrateEventStore, PGliteSqlClient } from 'potter/pglite';
import { SqlSagaStore } from '../../../src/saga/sql';
import { describeSagaStoreContract, lease, sagaState } from '../../contracts/saga-store.contract';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// One PGlite database for the file (starting one takes seconds); every test gets its own schema.
let client: PGliteSqlClient;
let schemas = 0;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

// Leases run on the database clock: the suite lets time pass by sleeping.
describeSagaStoreContract('PGlite', async () => {
  const schema = `sagas_${++schemas}`;
  await migrateEventStore(client, { schema });
  const store = new SqlSagaStore(client, { schema });
  return {
    store,
    elapse: sleep,
    cleanup: async () => {
      await store.close();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
});

describe('SqlSagaStore on PGlite', () => {
  it('works beside the event store (same client and schema) and leaves the client open on close', async () => {
    const schema = 'sagas_beside_event_store';
    await migrateEventStore(client, { schema });
    const store = SqlSagaStore.for({ client, schema });
    const state = sagaState({ businessKey: 'k' });
    await store.create(state, lease('a'));
    await store.close();
    await expect(store.load(state.sagaId)).resolves.toEqual(state);
    const { rows } = await client.query(
      `SELECT saga_name, correlation_id, business_key, status, version, owner FROM ${schema}.sagas`,
    );
    expect(rows).toEqual([
      {
        saga_name: 'order',
        correlation_id: state.correlationId,
        business_key: 'k',
        status: 'pending',
        version: 1,
        owner: 'a',
      },
    ]);
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
  });
});
