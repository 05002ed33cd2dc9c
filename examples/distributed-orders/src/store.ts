import { createPGliteEventStore } from 'potter/pglite';
import { createPostgresEventStore, type SqlEventStore } from 'potter/postgres';

/**
 * The order service's event store: PostgreSQL when POTTER_POSTGRES_URL is set (schema
 * POTTER_POSTGRES_SCHEMA, default `example_distributed_orders`), else PGlite persisted to
 * POTTER_DATA_DIR (default `.potter/distributed-orders`).
 */
export async function createStore(
  service: string,
): Promise<{ eventStore: SqlEventStore; description: string }> {
  const connectionString = process.env.POTTER_POSTGRES_URL;
  if (connectionString) {
    const schema = process.env.POTTER_POSTGRES_SCHEMA || 'example_distributed_orders';
    const eventStore = await createPostgresEventStore({ connectionString, schema });
    return { eventStore, description: `PostgreSQL, schema ${schema}` };
  }
  const dataDir = process.env.POTTER_DATA_DIR || `.potter/distributed-orders/${service}`;
  const eventStore = await createPGliteEventStore({ dataDir });
  return { eventStore, description: `PGlite at ${dataDir}` };
}
