import type { EventStore } from 'potter';
import { createPGliteEventStore } from 'potter/pglite';

/** The quickstart's event store and the directory it persists to. */
export interface QuickstartStore {
  eventStore: EventStore;
  dataDir: string;
}

/**
 * PGlite — real PostgreSQL compiled to WebAssembly, running inside this process — persisted to
 * POTTER_QUICKSTART_DATA (default `.potter/quickstart`). The store creates its tables on first use.
 * On a server, `createPostgresEventStore({ connectionString })` from `potter/postgres` runs the same SQL.
 */
export async function openEventStore(): Promise<QuickstartStore> {
  const dataDir = process.env.POTTER_QUICKSTART_DATA || '.potter/quickstart';
  return { eventStore: await createPGliteEventStore({ dataDir }), dataDir };
}
