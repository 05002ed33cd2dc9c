export { SqlTimerService, type SqlTimerServiceOptions } from './sql-timer-service';
export { SqlSagaStore, type SqlSagaStoreOptions } from './sql-saga-store';
export { SqlSagaViews, type SqlSagaViewsOptions } from '../monitoring/sql-saga-views';
