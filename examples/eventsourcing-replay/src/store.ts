import type { EventStore } from 'potter';
import { createPGliteEventStore } from 'potter/pglite';
import { createPostgresEventStore } from 'potter/postgres';

/** The event store of this example, and where it keeps its events (for the output). */
export interface ExampleStore {
  eventStore: EventStore;
  description: string;
}

/**
 * PostgreSQL when POTTER_POSTGRES_URL is set (tables in the schema POTTER_POSTGRES_SCHEMA, default
 * `example_es_replay`); otherwise PGlite — PostgreSQL embedded in the process — persisted to
 * POTTER_DATA_DIR (default `.potter/eventsourcing-replay`). Both create their tables on first use.
 */
export async function createStore(): Promise<ExampleStore> {
  const connectionString = process.env.POTTER_POSTGRES_URL;
  if (connectionString) {
    const schema = process.env.POTTER_POSTGRES_SCHEMA || 'example_es_replay';
    const eventStore = await createPostgresEventStore({ connectionString, schema });
    return { eventStore, description: `PostgreSQL, schema ${schema}` };
  }
  const dataDir = process.env.POTTER_DATA_DIR || '.potter/eventsourcing-replay';
  const eventStore = await createPGliteEventStore({ dataDir });
  return { eventStore, description: `PGlite at ${dataDir}` };
}
