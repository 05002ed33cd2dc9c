import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { isLoopbackHost, postgresUrl, serviceUnavailable } from '../../support/services';

// Smoke test of the PostgreSQL that scripts/services/up provides (or POTTER_POSTGRES_URL names).
describe('PostgreSQL test service', () => {
  const url = postgresUrl();
  let pool: Pool;

  beforeAll(async () => {
    pool = new Pool({ connectionString: url, connectionTimeoutMillis: 5_000, max: 2 });
    pool.on('error', () => undefined); // an idle client's error must not crash the worker
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      throw serviceUnavailable('PostgreSQL', url, error);
    }
  });

  afterAll(async () => {
    await pool?.end();
  });

  async function withClient<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      return await work(client);
    } finally {
      client.release();
    }
  }

  async function count(client: PoolClient, table: string): Promise<number> {
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    return rows[0]!.n;
  }

  it('is PostgreSQL 15 or newer', async () => {
    const { rows } = await pool.query<{ server_version_num: string }>('SHOW server_version_num');
    expect(Number(rows[0]!.server_version_num)).toBeGreaterThanOrEqual(150_000);
  });

  it('is reached over TCP, on loopback when the URL names this machine', async () => {
    const { rows } = await pool.query<{ addr: string | null }>('SELECT host(inet_server_addr()) AS addr');
    const addr = rows[0]!.addr;
    expect(addr).not.toBeNull();
    if (isLoopbackHost(new URL(url).hostname)) expect(['127.0.0.1', '::1']).toContain(addr);
  });

  it('reads back rows written in a committed transaction', async () => {
    await withClient(async (client) => {
      const table = `smoke_${randomUUID().replace(/-/g, '')}`;
      await client.query(`CREATE TEMPORARY TABLE ${table} (id int PRIMARY KEY, body text NOT NULL)`);
      await client.query('BEGIN');
      for (const [id, body] of [
        [1, 'one'],
        [2, 'two'],
        [3, 'three'],
      ] as const) {
        await client.query(`INSERT INTO ${table} (id, body) VALUES ($1, $2)`, [id, body]);
      }
      const inside = await client.query<{ id: number; body: string }>(
        `SELECT id, body FROM ${table} ORDER BY id`,
      );
      expect(inside.rows).toEqual([
        { id: 1, body: 'one' },
        { id: 2, body: 'two' },
        { id: 3, body: 'three' },
      ]);
      await client.query('COMMIT');
      expect(await count(client, table)).toBe(3);
      await client.query(`DROP TABLE ${table}`);
    });
  });

  it('leaves nothing behind after a rollback', async () => {
    await withClient(async (client) => {
      const table = `smoke_${randomUUID().replace(/-/g, '')}`;
      await client.query(`CREATE TEMPORARY TABLE ${table} (id int PRIMARY KEY)`);
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${table} (id) VALUES (1), (2)`);
      expect(await count(client, table)).toBe(2);
      await client.query('ROLLBACK');
      expect(await count(client, table)).toBe(0);

      // DDL is transactional too: a table created in a rolled-back transaction does not exist.
      const ghost = `${table}_ghost`;
      await client.query('BEGIN');
      await client.query(`CREATE TEMPORARY TABLE ${ghost} (id int)`);
      await client.query('ROLLBACK');
      const { rows } = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [
        `pg_temp.${ghost}`,
      ]);
      expect(rows[0]!.oid).toBeNull();
      await client.query(`DROP TABLE ${table}`);
    });
  });
});
