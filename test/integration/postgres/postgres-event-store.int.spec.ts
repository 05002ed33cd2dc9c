import { createPostgresEventStore, migrateEventStore, PgSqlClient, SqlEventStore } from 'potter/postgres';
import { describeEventStoreContract, events, readLogOf } from '../../contracts/event-store.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import { postgresUrl } from '../../support/services';

// Every schema this file creates starts with this prefix; all are dropped at the end.
const pg = usePostgresSchemas('es');

describeEventStoreContract('PostgreSQL', async () => {
  const schema = pg.schema();
  const store = await createPostgresEventStore({ pool: pg.pool(), schema });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await pg.pool().query(`DROP SCHEMA "${schema}" CASCADE`);
    },
  };
});

describe('PostgreSQL event store', () => {
  it('migrates idempotently, also when processes migrate at the same time', async () => {
    const schema = pg.schema('migrate');
    const clients = Array.from({ length: 4 }, () => new PgSqlClient({ connectionString: postgresUrl() }));
    try {
      const results = await Promise.all(clients.map((client) => migrateEventStore(client, { schema })));
      expect(results.filter((r) => r.applied.length > 0)).toEqual([
        { from: 0, to: 9, applied: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
      ]);
      expect(await migrateEventStore(clients[0]!, { schema })).toEqual({ from: 9, to: 9, applied: [] });
      const { rows } = await pg
        .pool()
        .query(`SELECT version, name FROM "${schema}".schema_migrations ORDER BY version`);
      expect(rows).toEqual([
        { version: 1, name: 'create streams and events' },
        { version: 2, name: 'create snapshots' },
        { version: 3, name: 'create projections' },
        { version: 4, name: 'create read models' },
        { version: 5, name: 'create inbox' },
        { version: 6, name: 'create sagas' },
        { version: 7, name: 'create timers' },
        { version: 8, name: 'create twopc log' },
        { version: 9, name: 'create saga read model' },
      ]);
      expect(await migrateEventStore(clients[0]!, { schema, to: 1 })).toEqual({
        from: 9,
        to: 1,
        applied: [9, 8, 7, 6, 5, 4, 3, 2],
      });
      expect(await migrateEventStore(clients[0]!, { schema })).toEqual({
        from: 1,
        to: 9,
        applied: [2, 3, 4, 5, 6, 7, 8, 9],
      });
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });

  it('creates its own pool from a connection string and ends it on close', async () => {
    const schema = pg.schema('own_pool');
    const store = await createPostgresEventStore({ connectionString: postgresUrl(), schema });
    await store.appendToStream('s', events(2));
    expect(await store.readStream('s')).toHaveLength(2);
    await store.close();
    expect((store.client as PgSqlClient).pool.ended).toBe(true);
  });

  it('appends inside a caller’s transaction: committed or rolled back with it', async () => {
    const schema = pg.schema('tx');
    const store = await createPostgresEventStore({ pool: pg.pool(), schema });
    await store.client.transaction(async (tx) => {
      await store.appendToStream('s', events(2), { transaction: tx });
      await tx.query(`CREATE TABLE "${schema}".read_model (n int)`);
    });
    await expect(
      store.client.transaction(async (tx) => {
        await store.appendToStream('s', events(1), { transaction: tx, expectedVersion: 2 });
        await expect(
          store.appendToStream('s', events(1), { transaction: tx, expectedVersion: 1 }),
        ).rejects.toThrow(/Concurrency conflict/);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await store.readStream('s')).map((e) => e.streamVersion)).toEqual([1, 2]);
    expect(await readLogOf(store, 2)).toHaveLength(2);
    await store.close();
  });

  it('delivers events held back by an older open transaction as soon as it ends, without polling', async () => {
    const schema = pg.schema('heldback');
    const store = await createPostgresEventStore({ pool: pg.pool(), schema });
    const blocker = await pg.pool().connect();
    try {
      const seen: string[] = [];
      const subscription = store.subscribeToAll((batch) => void seen.push(...batch.map((e) => e.id)), {
        pollIntervalMs: 60_000, // only the held-back reread can deliver in time
      });
      await subscription.caughtUp();
      // An older transaction with an id: rows committed after it are not readable until it ends.
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_current_xact_id()');
      await store.appendToStream('s', [{ id: 'held-1', type: 'tick', payload: {} }]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen).toEqual([]);
      expect(await store.lastPosition()).not.toBe('');
      await blocker.query('COMMIT');
      const started = Date.now();
      while (seen.length === 0 && Date.now() - started < 3_000) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toEqual(['held-1']);
      expect(Date.now() - started).toBeLessThan(1_500);
      await subscription.stop();
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      await store.close();
    }
  });

  it('wakes a subscription in another process by NOTIFY', async () => {
    const schema = pg.schema('notify');
    const writer = await createPostgresEventStore({ pool: pg.pool(), schema });
    const reader = new SqlEventStore(new PgSqlClient({ connectionString: postgresUrl() }), {
      schema,
      closeClient: true,
    });
    try {
      let wake: (ids: string[]) => void = () => undefined;
      const arrived = new Promise<string[]>((resolve) => (wake = resolve));
      // A poll interval far above the test's patience: only a notification can deliver in time.
      reader.subscribeToAll((batch) => wake(batch.map((e) => e.id)), { pollIntervalMs: 60_000 });
      // The reader is idle once its LISTEN connection is up (observed on the server).
      for (let i = 0; i < 500; i++) {
        const { rows } = await pg
          .pool()
          .query(`SELECT 1 FROM pg_stat_activity WHERE query = $1`, [`LISTEN "${schema}_events"`]);
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const started = Date.now();
      await writer.appendToStream('s', [{ id: 'n-1', type: 'tick', payload: {} }]);
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no notification')), 5_000).unref(),
      );
      expect(await Promise.race([arrived, timeout])).toEqual(['n-1']);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});
