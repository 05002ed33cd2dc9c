export {
  SqlProjectionStore,
  type SqlProjectionStoreOptions,
  type CreateSqlProjectionStoreOptions,
} from './sql-projection-store';
export {
  SqlReadModelStore,
  type SqlReadModelStoreOptions,
  type CreateSqlReadModelStoreOptions,
} from './sql-read-model-store';
export { PROJECTIONS_MIGRATION, READ_MODELS_MIGRATION } from '../../eventsourcing/sql/projection-migrations';
