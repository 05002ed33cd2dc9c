export { SqlInbox, type SqlInboxOptions } from './sql-inbox';
