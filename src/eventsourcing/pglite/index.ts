export { createPGliteEventStore, type PGliteEventStoreOptions } from './pglite-event-store';
export { PGliteSqlClient, type PGliteSqlClientOptions, type PGliteRunIn } from './pglite-sql-client';
export type { PGliteDatabase } from './pglite-database';
export { PGliteWorkerDatabase } from './pglite-worker-database';
