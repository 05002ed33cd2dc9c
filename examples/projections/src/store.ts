import { createPGliteEventStore, type SqlEventStore } from 'potter/pglite';
import { createPostgresEventStore } from 'potter/postgres';

/** The event store of this example, and where it keeps its events (for the output). */
export interface ExampleStore {
  /** An SQL event store: the projection and read-model stores share its database and schema. */
  eventStore: SqlEventStore;
  description: string;
}

/**
 * PostgreSQL when POTTER_POSTGRES_URL is set (tables in the schema POTTER_POSTGRES_SCHEMA, default
 * `example_projections`); otherwise PGlite — PostgreSQL embedded in the process — persisted to
 * POTTER_DATA_DIR (default `.potter/projections`). Both create their tables on first use, the
 * projection and read-model tables included.
 */
export async function createStore(): Promise<ExampleStore> {
  const connectionString = process.env.POTTER_POSTGRES_URL;
  if (connectionString) {
    const schema = process.env.POTTER_POSTGRES_SCHEMA || 'example_projections';
    const eventStore = await createPostgresEventStore({ connectionString, schema });
    return { eventStore, description: `PostgreSQL, schema ${schema}` };
  }
  const dataDir = process.env.POTTER_DATA_DIR || '.potter/projections';
  const eventStore = await createPGliteEventStore({ dataDir });
  return { eventStore, description: `PGlite at ${dataDir}` };
}
