import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { postgresUrl, serviceUnavailable } from './services';

/** A test file's PostgreSQL pool and throwaway schemas (all dropped after the file). */
export interface PostgresSchemas {
  /** The file's pool (created in `beforeAll`). */
  pool(): Pool;
  /** A new schema name, unique to this file and run (`<tag>_<random>_<n>`, or `_<suffix>`). */
  schema(suffix?: string): string;
}

/**
 * Registers `beforeAll`/`afterAll` hooks that open a pool (failing — never skipping — when
 * PostgreSQL is down) and, at the end, drop every schema this file created.
 */
export function usePostgresSchemas(tag: string, options: { max?: number } = {}): PostgresSchemas {
  const prefix = `${tag}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  let pool: Pool | undefined;
  let count = 0;
  beforeAll(async () => {
    pool = new Pool({ connectionString: postgresUrl(), max: options.max ?? 8 });
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      throw serviceUnavailable('PostgreSQL', postgresUrl(), error);
    }
  });
  afterAll(async () => {
    if (!pool) return;
    const { rows } = await pool.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`,
      [prefix],
    );
    for (const { nspname } of rows) await pool.query(`DROP SCHEMA "${nspname}" CASCADE`);
    await pool.end();
  });
  return {
    pool: () => {
      if (!pool) throw new Error('The pool is opened in beforeAll: use it inside hooks and tests.');
      return pool;
    },
    schema: (suffix) => `${prefix}_${suffix ?? ++count}`,
  };
}
