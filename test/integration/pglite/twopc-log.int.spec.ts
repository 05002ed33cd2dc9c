import { migrateEventStore, PGliteSqlClient } from 'potter/pglite';
import { SqlCoordinatorLog } from '../../../src/twopc/sql';
import { describeCoordinatorLogContract, lease } from '../../contracts/twopc-log.contract';

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

// Leases and ages run on the database clock: the suite lets time pass by sleeping. PGlite has one
// connection, so the "other" logs share it (claims are serialized, and must still not overlap).
describeCoordinatorLogContract('PGlite', async () => {
  const schema = `twopc_${++schemas}`;
  await migrateEventStore(client, { schema });
  const log = new SqlCoordinatorLog(client, { schema });
  return {
    log,
    others: async (count) =>
      Promise.resolve(Array.from({ length: count }, () => new SqlCoordinatorLog(client, { schema }))),
    elapse: sleep,
    cleanup: async () => {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
});

describe('SqlCoordinatorLog on PGlite', () => {
  it('works beside the event store (same client and schema)', async () => {
    const schema = 'twopc_beside_event_store';
    await migrateEventStore(client, { schema });
    const log = SqlCoordinatorLog.for({ client, schema });
    await log.begin('t1', ['a'], lease('c'));
    await expect(log.decide('t1', 'abort')).resolves.toBe('abort');
    const { rows } = await client.query(
      `SELECT tx_id, participants, decision, owner FROM ${schema}.twopc_transactions`,
    );
    expect(rows).toEqual([{ tx_id: 't1', participants: ['a'], decision: 'abort', owner: 'c' }]);
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
  });
});
