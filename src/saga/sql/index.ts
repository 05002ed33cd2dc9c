export { SqlTimerService, type SqlTimerServiceOptions } from './sql-timer-service';
export { SqlSagaStore, type SqlSagaStoreOptions } from './sql-saga-store';
