import type { SqlClient } from 'potter/pglite';
import { PGliteSqlClient, SqlCoordinatorLog, SqlSagaStore, migrateEventStore } from 'potter/pglite';
import { PgSqlClient } from 'potter/postgres';

/** The database of the example: sagas, the coordinator log, the warehouses and the orders. */
export interface Database {
  client: SqlClient;
  schema: string;
  /** One row per saga in `<schema>.sagas`. */
  sagaStore: SqlSagaStore;
  /** The 2PC coordinator's durable log, `<schema>.twopc_transactions`. */
  coordinatorLog: SqlCoordinatorLog;
  /** Where that is, for the output. */
  description: string;
  close(): Promise<void>;
}

const DEFAULT_POSTGRES_URL = 'postgres://potter:potter@127.0.0.1:5432/potter';

/**
 * PostgreSQL when POTTER_POSTGRES_URL is set or `--postgres` is given (default URL
 * postgres://potter:potter@127.0.0.1:5432/potter, tables in the schema POTTER_POSTGRES_SCHEMA,
 * default `example_saga_warehouse`); otherwise PGlite — PostgreSQL embedded in the process —
 * persisted to POTTER_DATA_DIR (default `.potter/saga-warehouse-integration`).
 * `migrateEventStore` creates the `sagas` and `twopc_transactions` tables the first time.
 */
export async function openDatabase(): Promise<Database> {
  const url = process.env.POTTER_POSTGRES_URL;
  if (url || process.argv.includes('--postgres')) {
    const schema = process.env.POTTER_POSTGRES_SCHEMA || 'example_saga_warehouse';
    const client = new PgSqlClient({ connectionString: url || DEFAULT_POSTGRES_URL });
    return migrated(client, schema, `PostgreSQL, schema ${schema}`);
  }
  const dataDir = process.env.POTTER_DATA_DIR || '.potter/saga-warehouse-integration';
  const client = await PGliteSqlClient.open({ dataDir });
  return migrated(client, 'potter', `PGlite at ${dataDir}`);
}

async function migrated(client: SqlClient, schema: string, description: string): Promise<Database> {
  try {
    await migrateEventStore(client, { schema });
  } catch (error) {
    await client.close();
    throw error;
  }
  return {
    client,
    schema,
    sagaStore: new SqlSagaStore(client, { schema }),
    coordinatorLog: new SqlCoordinatorLog(client, { schema }),
    description,
    close: () => client.close(),
  };
}
