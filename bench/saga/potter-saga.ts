/**
 * The parts of Potter this benchmark uses. The saga module is not exported from `potter` /
 * `potter/postgres` yet, so (unlike the other benchmarks, which import the built package) this
 * file takes it, and the PostgreSQL client and migrations that go with it, from the sources: they
 * are compiled with the benchmark into `build/src/`. Once the package exports them, only this file
 * changes (`from 'potter'` and `from 'potter/postgres'`).
 */
// The sources' decorator metadata needs the polyfill (the built package loads it itself).
import 'reflect-metadata';
export {
  defineSaga,
  MemorySagaStore,
  SagaOrchestrator,
  type SagaDefinition,
  type SagaEvent,
  type SagaLease,
  type SagaRenewal,
  type SagaState,
  type SagaStatus,
  type SagaStore,
} from '../../src/saga';
export { SqlSagaStore } from '../../src/saga/sql';
export { PgSqlClient } from '../../src/eventsourcing/postgres';
export { migrateEventStore, SqlEventStore } from '../../src/eventsourcing/sql';
export { silentLogger } from '../../src/core/logger';
export { newId } from '../../src/core/ids';
