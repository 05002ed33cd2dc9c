import fc from 'fast-check';
import { ConfigurationError, type MissingDependencyError } from 'potter';
import type * as PotterPGlite from 'potter/pglite';
import type * as PotterPostgres from 'potter/postgres';
import { SqlEventStore, migrateEventStore, type SqlClient } from 'potter/postgres';

// What the SQL adapters do before they touch a database: loading optional drivers, checking
// options, and positions that sort as strings.

function moduleNotFound(name: string): never {
  throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
}

describe('SQL adapters without their driver', () => {
  afterEach(() => {
    jest.resetModules();
    jest.dontMock('pg');
    jest.dontMock('@electric-sql/pglite');
  });

  it('importing potter/postgres does not load pg; creating a client names the package to install', async () => {
    jest.doMock('pg', () => moduleNotFound('pg'));
    const postgres = jest.requireActual<typeof PotterPostgres>('potter/postgres');
    let thrown: unknown;
    try {
      new postgres.PgSqlClient({ connectionString: 'postgres://localhost/none' });
    } catch (error) {
      thrown = error;
    }
    expect((thrown as MissingDependencyError).code).toBe('POTTER_MISSING_DEPENDENCY');
    expect((thrown as MissingDependencyError).details).toMatchObject({
      packageName: 'pg',
      install: 'npm i pg',
    });
  });

  it('importing potter/pglite does not load PGlite; opening a database names the package to install', async () => {
    jest.doMock('@electric-sql/pglite', () => moduleNotFound('@electric-sql/pglite'));
    const pglite = jest.requireActual<typeof PotterPGlite>('potter/pglite');
    const error = await pglite.PGliteSqlClient.open({ runIn: 'process' }).catch((e: unknown) => e);
    expect((error as MissingDependencyError).code).toBe('POTTER_MISSING_DEPENDENCY');
    expect((error as MissingDependencyError).details).toMatchObject({ packageName: '@electric-sql/pglite' });
  });
});

describe('SQL event store options', () => {
  it('accepts only plain lower-case schema names', async () => {
    const client = { query: jest.fn(), transaction: jest.fn(), close: jest.fn() };
    for (const schema of ['Potter', 'a-b', '1abc', 'x"; DROP TABLE y; --', '', 'a'.repeat(49)]) {
      expect(() => new SqlEventStore(client, { schema })).toThrow(ConfigurationError);
      await expect(migrateEventStore(client, { schema })).rejects.toThrow(ConfigurationError);
    }
    expect(() => new SqlEventStore(client, { schema: 'tenant_42' })).not.toThrow();
    expect(client.query).not.toHaveBeenCalled();
  });

  it('rejects a position that is not one of its own, and bad limits, before querying', async () => {
    const client = { query: jest.fn(), transaction: jest.fn(), close: jest.fn() };
    const store = new SqlEventStore(client);
    await expect(store.readAll({ after: '0000000000000042' })).rejects.toThrow(ConfigurationError);
    await expect(store.readAll({ limit: -1 })).rejects.toThrow(ConfigurationError);
    await expect(store.readStream('s', { limit: 1.5 })).rejects.toThrow(ConfigurationError);
    await expect(store.truncateStreamBefore('s', Number.NaN)).rejects.toThrow(ConfigurationError);
    expect(client.query).not.toHaveBeenCalled();
  });

  it('orders positions as strings exactly like (transaction id, sequence) pairs', async () => {
    const rowsFor = (pairs: [bigint, bigint][]) =>
      pairs.map(([tx, seq]) => ({
        tail_transaction_id: null,
        tail_seq: null,
        event_id: `${tx}:${seq}`,
        stream_id: 's',
        stream_version: 1,
        transaction_id: tx.toString(),
        seq: seq.toString(),
        event_type: 't',
        schema_version: 1,
        payload: {},
        metadata: {},
        recorded_at: new Date(0),
      }));
    const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    const int64 = fc.bigInt({ min: 1n, max: 2n ** 63n - 1n });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(uint64, int64), { minLength: 2, maxLength: 20 }), async (pairs) => {
        const query = jest.fn(async () => ({ rows: rowsFor(pairs) }));
        const client: SqlClient = {
          query: query as unknown as SqlClient['query'],
          transaction: jest.fn(),
          close: jest.fn(),
        };
        const { events } = await new SqlEventStore(client).readAll({ limit: 100 });
        const byPair = [...pairs].sort(([t1, s1], [t2, s2]) =>
          t1 === t2 ? Number(s1 - s2) : t1 < t2 ? -1 : 1,
        );
        // readAll returns events sorted by position string; that order must be the pair order.
        expect(events.map((e) => e.id)).toEqual(byPair.map(([tx, seq]) => `${tx}:${seq}`));
        // And a position given back as `after` decodes to the same pair.
        await new SqlEventStore(client).readAll({ after: events.at(-1)!.position });
        const [, params] = query.mock.calls.at(-1) as unknown as [string, unknown[]];
        const [tx, seq] = byPair.at(-1)!;
        expect(params.slice(0, 2)).toEqual([tx.toString(), seq.toString()]);
      }),
      { numRuns: 200 },
    );
  });
});
