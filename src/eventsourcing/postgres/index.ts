export { createPostgresEventStore, type PostgresEventStoreOptions } from './postgres-event-store';
export { PgSqlClient, type PgSqlClientOptions } from './pg-sql-client';
