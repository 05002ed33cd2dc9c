import type { EventStore, SnapshotStore } from 'potter';
import { createPGliteEventStore } from 'potter/pglite';
import { SqlSnapshotStore, createPostgresEventStore, type SqlEventStore } from 'potter/postgres';

/** The stores of this example. */
export interface ExampleStores {
  eventStore: EventStore;
  snapshotStore: SnapshotStore;
  /** Where events and snapshots live, for the output. */
  description: string;
  close(): Promise<void>;
}

/**
 * PostgreSQL when POTTER_POSTGRES_URL is set (tables in the schema POTTER_POSTGRES_SCHEMA, default
 * `example_es_snapshots`); otherwise PGlite — PostgreSQL embedded in the process — persisted to
 * POTTER_DATA_DIR (default `.potter/eventsourcing-snapshots`). The snapshots go to the same
 * database and schema as the events (the `snapshots` table the store's migrations create).
 */
export async function createStores(): Promise<ExampleStores> {
  const connectionString = process.env.POTTER_POSTGRES_URL;
  let eventStore: SqlEventStore;
  let schema: string;
  let description: string;
  if (connectionString) {
    schema = process.env.POTTER_POSTGRES_SCHEMA || 'example_es_snapshots';
    eventStore = await createPostgresEventStore({ connectionString, schema });
    description = `PostgreSQL, schema ${schema}`;
  } else {
    schema = 'potter';
    const dataDir = process.env.POTTER_DATA_DIR || '.potter/eventsourcing-snapshots';
    eventStore = await createPGliteEventStore({ dataDir, schema });
    description = `PGlite at ${dataDir}`;
  }
  return {
    eventStore,
    snapshotStore: new SqlSnapshotStore(eventStore.client, { schema }),
    description: `${description} (events and snapshots)`,
    close: () => eventStore.close(),
  };
}
