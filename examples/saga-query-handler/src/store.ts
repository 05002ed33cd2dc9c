import type { SqlClient } from 'potter/pglite';
import { PGliteSqlClient, SqlEventStore, SqlSagaStore, migrateEventStore } from 'potter/pglite';
import { PgSqlClient } from 'potter/postgres';

/** Where the sagas and their events are kept. */
export interface SagaPersistence {
  /**
   * The saga store, made to record every saga event in the event store in the same transaction as
   * the saga's state (`SqlSagaStore.for(eventStore)`): what the saga read model is projected from.
   */
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
 * default `example_saga_query_handler`); otherwise PGlite — PostgreSQL embedded in the process —
 * persisted to POTTER_DATA_DIR (default `.potter/saga-query-handler`). `migrateEventStore` creates
 * every table the first time: the events, the `sagas` table, the projection checkpoints and the
 * saga read model (`saga_views`, `saga_view_history`).
 */
export async function openSagaPersistence(): Promise<SagaPersistence> {
  const url = process.env.POTTER_POSTGRES_URL;
  if (url || process.argv.includes('--postgres')) {
    const schema = process.env.POTTER_POSTGRES_SCHEMA || 'example_saga_query_handler';
    const client = new PgSqlClient({ connectionString: url || DEFAULT_POSTGRES_URL });
    return migrated(client, schema, `PostgreSQL, schema ${schema}`);
  }
  const dataDir = process.env.POTTER_DATA_DIR || '.potter/saga-query-handler';
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
  const eventStore = new SqlEventStore(client, { schema });
  return {
    sagaStore: SqlSagaStore.for(eventStore),
    description,
    close: () => client.close(),
  };
}
