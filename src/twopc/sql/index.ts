export { SqlCoordinatorLog, type SqlCoordinatorLogOptions } from './sql-coordinator-log';
