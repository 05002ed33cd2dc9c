import type { PGlite } from '@electric-sql/pglite';
import { DEFAULT_EVENT_STORE_SCHEMA, migrateEventStore } from '../sql/schema';
import { SqlEventStore } from '../sql/sql-event-store';
import type { PGliteDatabase } from './pglite-database';
import { PGliteSqlClient, type PGliteRunIn } from './pglite-sql-client';

/** Options of {@link createPGliteEventStore}. */
export interface PGliteEventStoreOptions {
  /** Directory the database persists to (created if missing). @default in memory */
  dataDir?: string;
  /** A database of yours instead (several stores may share one, each in its own schema; not closed by `close()`). */
  db?: PGlite | PGliteDatabase;
  /** Schema of the store's tables. @default 'potter' */
  schema?: string;
  /** Create or upgrade the tables before returning. @default true */
  migrate?: boolean;
  /** Where PGlite runs (this thread or a worker thread). @default 'auto' */
  runIn?: PGliteRunIn;
  /** Source of `recordedAt`. @default () => new Date() */
  now?: () => Date;
}

/**
 * Creates an event store on PGlite — real PostgreSQL embedded in the process, in memory or
 * persisted to `dataDir` — running the same SQL as the PostgreSQL store.
 */
export async function createPGliteEventStore(options: PGliteEventStoreOptions = {}): Promise<SqlEventStore> {
  const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
  const client = await PGliteSqlClient.open({
    db: options.db,
    dataDir: options.dataDir,
    runIn: options.runIn,
  });
  try {
    if (options.migrate ?? true) await migrateEventStore(client, { schema });
  } catch (error) {
    await client.close();
    throw error;
  }
  return new SqlEventStore(client, { schema, now: options.now, closeClient: true });
}
