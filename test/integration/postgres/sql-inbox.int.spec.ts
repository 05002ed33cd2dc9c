import { migrateEventStore, PgSqlClient, SqlInbox, type SqlClient } from 'potter/postgres';
import { usePostgresSchemas } from '../../support/postgres-schemas';

const pg = usePostgresSchemas('inbox', { max: 12 });

describe('SqlInbox on PostgreSQL', () => {
  let client: PgSqlClient;
  let schema: string;
  let inbox: SqlInbox;

  beforeAll(async () => {
    client = new PgSqlClient({ pool: pg.pool() });
    schema = pg.schema();
    await migrateEventStore(client, { schema });
    inbox = new SqlInbox(client, { schema });
  });

  afterAll(async () => {
    await client?.close();
  });

  const rowsOf = async (consumer: string): Promise<string[]> => {
    const { rows } = await pg
      .pool()
      .query<{ message_id: string }>(
        `SELECT message_id FROM "${schema}".inbox WHERE consumer = $1 ORDER BY 1`,
        [consumer],
      );
    return rows.map((row) => row.message_id);
  };

  it('records an id once per consumer', async () => {
    expect(await inbox.seen('billing', 'm-1')).toBe(false);
    expect(await inbox.seen('billing', 'm-1')).toBe(true);
    expect(await inbox.seen('shipping', 'm-1')).toBe(false);
    expect(await rowsOf('billing')).toEqual(['m-1']);
  });

  it('runs the handler exactly once among 10 concurrent calls with the same id', async () => {
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        inbox.once('exactly-once', 'm-1', async (tx) => {
          runs++;
          await tx.query(`SELECT pg_sleep(0.05)`);
          return i;
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(results.filter((result) => result.processed)).toHaveLength(1);
    expect(await rowsOf('exactly-once')).toEqual(['m-1']);
  });

  it('records in the caller’s transaction: rolled back with it, committed with it', async () => {
    await pg.pool().query(`CREATE TABLE "${schema}".effects (message_id text PRIMARY KEY)`);
    const handle = (tx: SqlClient) => tx.query(`INSERT INTO "${schema}".effects VALUES ('m-1')`);

    await expect(
      client.transaction(async (tx) => {
        const result = await inbox.once('tx', 'm-1', handle, { tx });
        expect(result.processed).toBe(true);
        expect(await inbox.seen('tx', 'm-1', tx)).toBe(true); // visible inside the transaction
        throw new Error('the rest of the handler failed');
      }),
    ).rejects.toThrow('the rest of the handler failed');
    expect(await rowsOf('tx')).toEqual([]);
    expect((await pg.pool().query(`SELECT * FROM "${schema}".effects`)).rows).toEqual([]);

    await client.transaction(async (tx) => {
      expect(await inbox.once('tx', 'm-1', handle, { tx })).toEqual({
        processed: true,
        result: { rows: [] },
      });
    });
    expect(await rowsOf('tx')).toEqual(['m-1']);
    await client.transaction(async (tx) => {
      expect(await inbox.once('tx', 'm-1', handle, { tx })).toEqual({ processed: false });
    });
  });

  it('records nothing when the handler throws (own transaction)', async () => {
    await expect(
      inbox.once('failing', 'm-1', () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await rowsOf('failing')).toEqual([]);
    expect(await inbox.once('failing', 'm-1', () => 'ok')).toEqual({ processed: true, result: 'ok' });
  });

  it('purges old records', async () => {
    await inbox.seen('purge', 'old');
    await pg
      .pool()
      .query(
        `UPDATE "${schema}".inbox SET processed_at = now() - interval '2 days' WHERE consumer = 'purge'`,
      );
    await inbox.seen('purge', 'new');
    expect(await inbox.purge(new Date(Date.now() - 24 * 3_600_000))).toBe(1);
    expect(await rowsOf('purge')).toEqual(['new']);
  });
});
