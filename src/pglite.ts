/**
 * `potter/pglite` — Potter on PGlite, PostgreSQL embedded in the process (an optional peer
 * dependency: `npm i @electric-sql/pglite`), loaded only when a client or store is created.
 * It runs the same SQL as `potter/postgres`.
 */
export {
  createPGliteEventStore,
  PGliteSqlClient,
  PGliteWorkerDatabase,
  type PGliteEventStoreOptions,
  type PGliteSqlClientOptions,
  type PGliteRunIn,
  type PGliteDatabase,
} from './eventsourcing/pglite';
export {
  SqlEventStore,
  sqlStateOf,
  migrateEventStore,
  EVENT_STORE_MIGRATIONS,
  DEFAULT_EVENT_STORE_SCHEMA,
  type SqlEventStoreOptions,
  type SqlAppendOptions,
  type SqlClient,
  type SqlQueryOptions,
  type SqlResult,
  type EventStoreMigration,
  type MigrateEventStoreOptions,
  type MigrateEventStoreResult,
} from './eventsourcing/sql';
export { SqlSnapshotStore } from './eventsourcing/snapshots/sql-snapshot-store';
export {
  SqlProjectionStore,
  SqlReadModelStore,
  type SqlProjectionStoreOptions,
  type CreateSqlProjectionStoreOptions,
  type SqlReadModelStoreOptions,
  type CreateSqlReadModelStoreOptions,
} from './projections/sql';
export { SqlInbox, type SqlInboxOptions } from './messaging/sql';
export { SqlSagaStore, type SqlSagaStoreOptions } from './saga/sql/sql-saga-store';
export { SqlTimerService, type SqlTimerServiceOptions } from './saga/sql/sql-timer-service';
export { SqlSagaViews, type SqlSagaViewsOptions } from './saga/monitoring/sql-saga-views';
export { SqlCoordinatorLog, type SqlCoordinatorLogOptions } from './twopc/sql';
