export { SqlEventStore, type SqlEventStoreOptions, type SqlAppendOptions } from './sql-event-store';
export { sqlStateOf, type SqlClient, type SqlQueryOptions, type SqlResult } from './sql-client';
export {
  migrateEventStore,
  EVENT_STORE_MIGRATIONS,
  DEFAULT_EVENT_STORE_SCHEMA,
  type EventStoreMigration,
  type MigrateEventStoreOptions,
  type MigrateEventStoreResult,
} from './schema';
