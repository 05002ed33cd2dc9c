export { SqlSagaStore, type SqlSagaStoreOptions } from './sql-saga-store';
