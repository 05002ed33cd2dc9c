import type { Pool, PoolConfig } from 'pg';
import type { Logger } from '../../core/logger';
import { DEFAULT_EVENT_STORE_SCHEMA, migrateEventStore } from '../sql/schema';
import { SqlEventStore } from '../sql/sql-event-store';
import { PgSqlClient } from './pg-sql-client';

/** Options of {@link createPostgresEventStore}. */
export interface PostgresEventStoreOptions {
  /** A pool of yours (not ended by the store's `close()`). */
  pool?: Pool;
  /** Where to connect when no `pool` is given. @default process.env.POTTER_POSTGRES_URL */
  connectionString?: string;
  /** More settings for the pool created when no `pool` is given. */
  poolConfig?: PoolConfig;
  /** Schema of the store's tables. @default 'potter' */
  schema?: string;
  /** Create or upgrade the tables before returning (see `migrateEventStore`). @default true */
  migrate?: boolean;
  /** After appends, `NOTIFY` other processes' subscriptions (throttled, outside the append's transaction). @default true */
  notify?: boolean;
  /** Source of `recordedAt`. @default () => new Date() */
  now?: () => Date;
  /** Where connection problems are reported. @default silent */
  logger?: Logger;
}

/**
 * Creates the PostgreSQL event store on a `pg.Pool` (yours, or one made from `connectionString`),
 * migrating its schema first unless `migrate: false`. `close()` ends the pool only if the store
 * created it.
 */
export async function createPostgresEventStore(
  options: PostgresEventStoreOptions = {},
): Promise<SqlEventStore> {
  const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
  const client = new PgSqlClient({
    pool: options.pool,
    connectionString:
      options.connectionString ??
      (options.pool || options.poolConfig ? undefined : process.env.POTTER_POSTGRES_URL),
    poolConfig: options.poolConfig,
    logger: options.logger,
  });
  try {
    if (options.migrate ?? true) await migrateEventStore(client, { schema });
  } catch (error) {
    await client.close();
    throw error;
  }
  return new SqlEventStore(client, {
    schema,
    notify: options.notify,
    now: options.now,
    logger: options.logger,
    closeClient: true,
  });
}
