import { DEFAULT_EVENT_STORE_SCHEMA, quoteSchema } from '../../eventsourcing/sql/schema';
import type { SqlClient } from '../../eventsourcing/sql/sql-client';
import type { Inbox, InboxOnceOptions, InboxOnceResult } from '../inbox';

/** Options of {@link SqlInbox}. */
export interface SqlInboxOptions {
  /** The schema whose migrations created `inbox` (those of the event store). @default 'potter' */
  schema?: string;
}

/**
 * An inbox in PostgreSQL (or PGlite): one row per processed message in `<schema>.inbox`, created
 * by the event store's migrations (`migrateEventStore`, v5). Recording is an
 * `INSERT … ON CONFLICT DO NOTHING` on `(consumer, message_id)`, so it can share the handler's
 * transaction: the id is recorded exactly when the handler's writes commit. Concurrent `once`
 * calls for one id wait on the first one's row lock, then skip (or run, if it rolled back).
 */
export class SqlInbox implements Inbox<SqlClient> {
  readonly #client: SqlClient;
  readonly #table: string;

  /** The inbox beside an SQL event store: same client, same schema (its migrations created the table). */
  static for(eventStore: { client: SqlClient; schema: string }): SqlInbox {
    return new SqlInbox(eventStore.client, { schema: eventStore.schema });
  }

  constructor(client: SqlClient, options: SqlInboxOptions = {}) {
    this.#client = client;
    this.#table = `${quoteSchema(options.schema ?? DEFAULT_EVENT_STORE_SCHEMA)}.inbox`;
  }

  async seen(consumer: string, messageId: string, tx?: SqlClient): Promise<boolean> {
    return !(await this.#record(tx ?? this.#client, consumer, messageId));
  }

  async once<T>(
    consumer: string,
    messageId: string,
    fn: (tx: SqlClient) => Promise<T> | T,
    options: InboxOnceOptions<SqlClient> = {},
  ): Promise<InboxOnceResult<T>> {
    const run = async (tx: SqlClient): Promise<InboxOnceResult<T>> => {
      if (!(await this.#record(tx, consumer, messageId))) return { processed: false };
      return { processed: true, result: await fn(tx) };
    };
    return options.tx ? run(options.tx) : this.#client.transaction(run);
  }

  /** Deletes the records of messages processed before `before`; resolves to how many. */
  async purge(before: Date): Promise<number> {
    const { rows } = await this.#client.query<{ deleted: number }>(
      `WITH d AS (DELETE FROM ${this.#table} WHERE processed_at < $1 RETURNING 1)
       SELECT count(*)::int AS deleted FROM d`,
      [before],
    );
    return Number(rows[0]?.deleted ?? 0);
  }

  /** Inserts the record; true when this call inserted it (first time). */
  async #record(client: SqlClient, consumer: string, messageId: string): Promise<boolean> {
    const { rows } = await client.query(
      `INSERT INTO ${this.#table} (consumer, message_id) VALUES ($1, $2)
       ON CONFLICT (consumer, message_id) DO NOTHING RETURNING 1 AS inserted`,
      [consumer, messageId],
    );
    return rows.length > 0;
  }
}
