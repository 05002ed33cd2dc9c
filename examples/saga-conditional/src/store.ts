import type { SqlClient } from 'potter/pglite';
import { PGliteSqlClient, SqlSagaStore, migrateEventStore } from 'potter/pglite';
import { PgSqlClient } from 'potter/postgres';

/** Where the sagas are kept. */
export interface SagaPersistence {
  /** The saga store: one row per saga in `<schema>.sagas`. */
  sagaStore: SqlSagaStore;
  /** Where that is, for the output. */
  description: string;
  /** Closes the connection (after the app has stopped). */
  close(): Promise<void>;
}

const DEFAULT_POSTGRES_URL = 'postgres://potter:potter@127.0.0.1:5432/potter';

/**
 * PostgreSQL when POTTER_POSTGRES_URL is set or `--postgres` is given (default URL
 * postgres://potter:potter@127.0.0.1:5432/potter, tables in the schema POTTER_POSTGRES_SCHEMA,
 * default `example_saga_conditional`); otherwise PGlite — PostgreSQL embedded in the process —
 * persisted to POTTER_DATA_DIR (default `.potter/saga-conditional`). `migrateEventStore` creates the
 * tables the first time (the `sagas` table comes with the event store's migrations).
 */
export async function openSagaPersistence(): Promise<SagaPersistence> {
  const url = process.env.POTTER_POSTGRES_URL;
  if (url || process.argv.includes('--postgres')) {
    const schema = process.env.POTTER_POSTGRES_SCHEMA || 'example_saga_conditional';
    const client = new PgSqlClient({ connectionString: url || DEFAULT_POSTGRES_URL });
    return migrated(client, schema, `PostgreSQL, schema ${schema}`);
  }
  const dataDir = process.env.POTTER_DATA_DIR || '.potter/saga-conditional';
  const client = await PGliteSqlClient.open({ dataDir });
  return migrated(client, 'potter', `PGlite at ${dataDir}`);
}

async function migrated(client: SqlClient, schema: string, description: string): Promise<SagaPersistence> {
  try {
    await migrateEventStore(client, { schema });
  } catch (error) {
    await client.close();
    throw error;
  }
  return {
    sagaStore: new SqlSagaStore(client, { schema }),
    description,
    close: () => client.close(),
  };
}
