import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPGliteEventStore, migrateEventStore, PGliteSqlClient, SqlEventStore } from 'potter/pglite';
import { describeEventStoreContract, events, readWholeLog } from '../../contracts/event-store.contract';

// One PGlite database for the file (starting one takes seconds); every test gets its own schema.
let client: PGliteSqlClient;
let schemas = 0;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

describeEventStoreContract('PGlite', async () => {
  const schema = `contract_${++schemas}`;
  const store = await createPGliteEventStore({ db: client.db, schema });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
});

describe('PGlite event store', () => {
  it('persists to a directory and reopens it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'potter-pglite-'));
    try {
      const first = await createPGliteEventStore({ dataDir });
      await first.appendToStream('s', events(3));
      await first.close();
      const reopened = await createPGliteEventStore({ dataDir });
      expect((await reopened.readStream('s')).map((e) => e.streamVersion)).toEqual([1, 2, 3]);
      expect(await readWholeLog(reopened)).toHaveLength(3);
      await reopened.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('migrates idempotently, up and down', async () => {
    const schema = 'migrations_check';
    expect(await migrateEventStore(client, { schema })).toEqual({
      from: 0,
      to: 9,
      applied: [1, 2, 3, 4, 5, 6, 7, 8, 9],
    });
    expect(await migrateEventStore(client, { schema })).toEqual({ from: 9, to: 9, applied: [] });
    expect(await migrateEventStore(client, { schema, to: 0 })).toEqual({
      from: 9,
      to: 0,
      applied: [9, 8, 7, 6, 5, 4, 3, 2, 1],
    });
    expect(await migrateEventStore(client, { schema })).toEqual({
      from: 0,
      to: 9,
      applied: [1, 2, 3, 4, 5, 6, 7, 8, 9],
    });
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
  });

  it('appends inside a caller’s transaction: committed or rolled back with it', async () => {
    const store = new SqlEventStore(client, { schema: 'tx_check' });
    await migrateEventStore(client, { schema: 'tx_check' });
    await client.transaction(async (tx) => {
      await store.appendToStream('s', events(2), { transaction: tx });
      await store.appendToStream('s', events(1), { transaction: tx, expectedVersion: 2 });
    });
    await expect(
      client.transaction(async (tx) => {
        await store.appendToStream('s', events(1), { transaction: tx, expectedVersion: 3 });
        // a conflict inside the transaction does not abort it
        await expect(
          store.appendToStream('s', events(1), { transaction: tx, expectedVersion: 1 }),
        ).rejects.toThrow(/Concurrency conflict/);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await store.readStream('s')).map((e) => e.streamVersion)).toEqual([1, 2, 3]);
    expect(await readWholeLog(store)).toHaveLength(3);
    await store.close();
    await client.query('DROP SCHEMA tx_check CASCADE');
  });
});
