import { ConcurrencyError, ConfigurationError, StreamDeletedError } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import {
  START,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
  type GlobalPosition,
  type LastPositionOptions,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamInfo,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from '../event-store';
import {
  checkExpectedVersion,
  idempotentRetryVersion,
  prepareEvents,
  validateExpectedVersion,
  type PreparedEvent,
} from '../store-support';
import { runSubscription } from '../subscription';
import { ChangeFeed } from './change-feed';
import { DEFAULT_EVENT_STORE_SCHEMA } from './schema';
import { SQLSTATE, sqlStateOf, type SqlClient } from './sql-client';
import {
  MAX_VERSION,
  assertStreamId,
  countOption,
  encodeEvent,
  encodeEvents,
  run,
  toRecordedEvent,
  translateWriteError,
  versionBound,
} from './sql-codec';
import { decodePosition, encodePosition } from './sql-position';
import {
  eventStoreStatements,
  type EventRow,
  type EventStoreStatements,
  type Statement,
} from './sql-statements';

/** Options of {@link SqlEventStore}. */
export interface SqlEventStoreOptions {
  /** Schema holding the store's tables (created by `migrateEventStore`). @default 'potter' */
  schema?: string;
  /** Source of `recordedAt` (the writer's clock, as in the memory store). @default () => new Date() */
  now?: () => Date;
  /**
   * Signal appends with `NOTIFY <schema>_events`, so subscriptions in other processes wake at once
   * instead of at their next poll. Sent after the append commits, at most once per
   * `notifyIntervalMs` (appends in between share one). @default true
   */
  notify?: boolean;
  /** @default 10 */
  notifyIntervalMs?: number;
  /** Where warnings go (for example: notifications unavailable). @default silent */
  logger?: Logger;
  /** Close `client` in `close()`. Set by the factories that create the client. @default false */
  closeClient?: boolean;
}

/** Options of {@link SqlEventStore.appendToStream}. */
export interface SqlAppendOptions extends AppendOptions {
  /**
   * Append inside this transaction (a `tx` from `store.client.transaction(...)`) instead of in a
   * transaction of its own: the events commit or roll back with the caller's other writes. The
   * append should be the transaction's first write, or at least its first write to the log: see
   * the ordering note on {@link SqlEventStore}.
   */
  transaction?: SqlClient;
}

const APPEND_ATTEMPTS = 3;

interface AppendRow {
  version: number;
  transaction_id: string;
  last_seq: string;
}

interface ConflictRow {
  kind: 'stream' | 'event';
  event_id: string | null;
  stream_id: string;
  stream_version: number;
  deleted: boolean | null;
}

type ReadAllRow = { tail_transaction_id: string | null; tail_seq: string | null } & (
  EventRow | { [K in keyof EventRow]: null }
);

/**
 * The event store on PostgreSQL (through `pg` or PGlite): one implementation over the
 * {@link SqlClient} port, the same SQL for both.
 *
 * **Appends** are one statement, so one round trip and one transaction: take the stream's
 * advisory lock, bump `streams.version` only if the expected version holds, insert the events at
 * the versions that follow. A stored event id makes it an idempotent retry or a conflict. Other
 * processes' subscriptions are woken by a throttled `NOTIFY` sent after the commit.
 *
 * **Global order without skips.** A `bigserial` alone is not a safe position: a transaction that
 * took a lower number can commit after a reader already passed a higher one, and the reader would
 * never see it. Each row therefore also stores its transaction id (`xid8`), and `readAll` returns
 * only rows of transactions below `pg_snapshot_xmin(pg_current_snapshot())` — every one of those
 * transactions has ended, so that set never grows — ordered by `(transaction_id, seq)`; the
 * position is that pair. Rolled-back rows never appear and xmin moves past them, so nothing
 * stalls on them. The trade-off: a transaction left open anywhere on the server (any database)
 * holds `readAll` back — never skipping — until it ends; keep transactions short.
 *
 * **Per-stream order in the log.** The stream lock is taken before the append writes anything,
 * so a writer that waited for a stream gets a higher transaction id than the writer it waited for,
 * and the log lists each stream's events in version order. An append made inside a caller's
 * transaction that had already written (`transaction` option) has an older transaction id than
 * its lock wait suggests; the log may then list it before events of the same stream that other
 * transactions committed earlier. Append first in such transactions, or one stream per transaction.
 */
export class SqlEventStore implements EventStore {
  /** The client the store runs on; start transactions for the `transaction` append option with it. */
  readonly client: SqlClient;
  /** The schema of the store's tables. */
  readonly schema: string;

  /** Whether appends signal other processes (`NOTIFY`, the `notify` option). */
  get notifies(): boolean {
    return this.#notify;
  }
  readonly #sql: EventStoreStatements;
  readonly #now: () => Date;
  readonly #notify: boolean;
  readonly #feed: ChangeFeed;
  readonly #closeClient: boolean;
  readonly #subscriptions = new Set<Subscription>();
  #closing: Promise<void> | undefined;

  constructor(client: SqlClient, options: SqlEventStoreOptions = {}) {
    this.client = client;
    this.schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    this.#sql = eventStoreStatements(this.schema);
    this.#now = options.now ?? (() => new Date());
    this.#notify = options.notify ?? true;
    this.#feed = new ChangeFeed(client, this.#sql.channel, {
      notify: this.#notify,
      notifyIntervalMs: options.notifyIntervalMs ?? 10,
      logger: options.logger ?? silentLogger,
    });
    this.#closeClient = options.closeClient ?? false;
  }

  async appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: SqlAppendOptions = {},
  ): Promise<AppendResult> {
    assertStreamId(streamId);
    const expected = options.expectedVersion ?? 'any';
    validateExpectedVersion(expected);
    const recordedAt = this.#now();
    const prepared = prepareEvents(events, recordedAt);
    const client = options.transaction ?? this.client;
    if (prepared.length === 0) return this.#appendNothing(client, streamId, expected);
    const existing = expected === 'exists' || (typeof expected === 'number' && expected > 0);
    // In a caller's transaction the NOTIFY must wait for its commit: it goes in the statement.
    const notifyOnCommit = options.transaction !== undefined && this.#notify;
    const one = prepared.length === 1;
    const sql = this.#sql;
    const statement = existing
      ? notifyOnCommit
        ? one
          ? sql.appendOneExistingNotifying
          : sql.appendExistingNotifying
        : one
          ? sql.appendOneExisting
          : sql.appendExisting
      : notifyOnCommit
        ? one
          ? sql.appendOneMayCreateNotifying
          : sql.appendMayCreateNotifying
        : one
          ? sql.appendOneMayCreate
          : sql.appendMayCreate;
    const expectedParam = typeof expected === 'number' ? expected : expected === 'no_stream' ? 0 : null;
    // A single event goes as scalar parameters (no JSON array for the server to unpack).
    const params = one
      ? [streamId, 1, expectedParam, ...encodeEvent(prepared[0]!), recordedAt.toISOString()]
      : [
          streamId,
          prepared.length,
          expectedParam,
          encodeEvents(prepared),
          recordedAt.toISOString(), // cheaper for the driver than a Date, and exact to the millisecond
        ];
    for (let attempt = 1; ; attempt++) {
      const row = await this.#tryAppend(client, statement, params, options.transaction !== undefined);
      if (row) {
        if (!options.transaction) this.#feed.announce();
        return {
          nextExpectedVersion: row.version,
          written: prepared.length,
          lastPosition: encodePosition(row.transaction_id, row.last_seq),
        };
      }
      const retried = await this.#explainFailedAppend(client, streamId, expected, prepared);
      if (retried !== undefined) return { nextExpectedVersion: retried, written: 0, lastPosition: undefined };
      // The stream changed between the append and the explanation: try again, a few times.
      if (attempt >= APPEND_ATTEMPTS) throw new ConcurrencyError(streamId, expected, 'changing');
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    assertStreamId(streamId);
    const backward = options.direction === 'backward';
    const low = versionBound(backward ? options.toVersion : options.fromVersion, 1);
    const high = versionBound(backward ? options.fromVersion : options.toVersion, MAX_VERSION);
    const limit = options.limit === undefined ? null : countOption(options.limit, 'limit');
    const statement = backward ? this.#sql.readStreamBackward : this.#sql.readStreamForward;
    const { rows } = await run<{ deleted: boolean } & (EventRow | { [K in keyof EventRow]: null })>(
      this.client,
      statement,
      [streamId, low, high, limit],
    );
    if (rows.length === 0) return [];
    if (rows[0]!.deleted) throw new StreamDeletedError(streamId);
    const events: RecordedEvent[] = [];
    for (const row of rows) if (row.event_id !== null) events.push(toRecordedEvent(row as EventRow));
    return events;
  }

  async lastPosition(options: LastPositionOptions = {}): Promise<GlobalPosition> {
    const { rows } = await run<{ transaction_id: string; seq: string }>(this.client, this.#sql.lastPosition, [
      options.eventTypes ? [...options.eventTypes] : null,
      options.streamIdPrefix ?? null,
      options.from ?? null,
      options.to ?? null,
    ]);
    const row = rows[0];
    return row ? encodePosition(row.transaction_id, row.seq) : START;
  }

  async countEvents(options: Omit<ReadAllOptions, 'limit'> = {}): Promise<number> {
    const from = decodePosition(options.after ?? START);
    const { rows } = await run<{ count: number }>(this.client, this.#sql.countEvents, [
      from.transactionId,
      from.seq,
      options.eventTypes ? [...options.eventTypes] : null,
      options.streamIdPrefix ?? null,
      options.from ?? null,
      options.to ?? null,
    ]);
    return rows[0]?.count ?? 0;
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const after = options.after ?? START;
    const from = decodePosition(after);
    const limit = countOption(options.limit ?? 1000, 'limit');
    const { rows } = await run<ReadAllRow>(this.client, this.#sql.readAll, [
      from.transactionId,
      from.seq,
      limit,
      options.eventTypes ? [...options.eventTypes] : null,
      options.streamIdPrefix ?? null,
      options.from ?? null,
      options.to ?? null,
    ]);
    const first = rows[0];
    const tail =
      first?.tail_transaction_id != null && first.tail_seq != null
        ? encodePosition(first.tail_transaction_id, first.tail_seq)
        : undefined;
    const events: RecordedEvent[] = [];
    for (const row of rows) if (row.event_id !== null) events.push(toRecordedEvent(row as EventRow));
    // Rows arrive in (transaction_id, seq) order; positions are that order as strings.
    events.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    if (events.length >= limit) {
      const position = events.at(-1)?.position ?? after;
      return { events, position, endOfLog: tail === undefined || position >= tail };
    }
    return { events, position: tail !== undefined && tail > after ? tail : after, endOfLog: true };
  }

  async streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    assertStreamId(streamId);
    const { rows } = await run<{ version: number; truncated_before: number; deleted: boolean }>(
      this.client,
      this.#sql.streamInfo,
      [streamId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return { streamId, version: row.version, truncatedBefore: row.truncated_before, deleted: row.deleted };
  }

  async deleteStream(streamId: string, options: AppendOptions = {}): Promise<void> {
    assertStreamId(streamId);
    const expected = options.expectedVersion ?? 'any';
    validateExpectedVersion(expected);
    await this.client.transaction(async (tx) => {
      const { rows } = await run<{ version: number | null; deleted: boolean | null }>(
        tx,
        this.#sql.lockStream,
        [streamId],
      );
      const row = rows[0];
      if (row?.deleted) return;
      checkExpectedVersion(streamId, expected, row?.version ?? 0, row?.version != null);
      await run(tx, this.#sql.markDeleted, [streamId]);
    });
  }

  async truncateStreamBefore(streamId: string, version: number): Promise<void> {
    assertStreamId(streamId);
    if (!Number.isInteger(version)) {
      throw new ConfigurationError('truncateStreamBefore needs an integer version.', { streamId, version });
    }
    const bounded = Math.max(0, Math.min(version, MAX_VERSION));
    const { rows } = await run<{ deleted: boolean }>(this.client, this.#sql.truncate, [streamId, bounded]);
    if (rows[0]?.deleted) throw new StreamDeletedError(streamId);
  }

  subscribeToAll(handler: SubscriptionHandler, options: SubscribeOptions = {}): Subscription {
    const filters = {
      eventTypes: options.eventTypes,
      streamIdPrefix: options.streamIdPrefix,
      from: options.from,
      to: options.to,
    };
    const subscription = runSubscription(
      this,
      handler,
      options,
      (signal) => this.#feed.wait(signal),
      async (position) => (await this.lastPosition(filters)) > position,
    );
    this.#subscriptions.add(subscription);
    const forget = (): void => void this.#subscriptions.delete(subscription);
    subscription.done.then(forget, forget);
    return subscription;
  }

  /** Stops the subscriptions, stops listening, and closes the client if the store owns it. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#subscriptions].map((subscription) => subscription.stop()));
      await this.#feed.close();
      if (this.#closeClient) await this.client.close();
    })();
    return this.#closing;
  }

  async #appendNothing(
    client: SqlClient,
    streamId: string,
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    const { rows } = await run<{ version: number; deleted: boolean }>(client, this.#sql.streamInfo, [
      streamId,
    ]);
    const row = rows[0];
    if (row?.deleted) throw new StreamDeletedError(streamId);
    const version = row?.version ?? 0;
    checkExpectedVersion(streamId, expected, version, version > 0);
    return { nextExpectedVersion: version, written: 0, lastPosition: undefined };
  }

  /** Runs the append statement: its row, or `undefined` when the check failed or an id is stored. */
  async #tryAppend(
    client: SqlClient,
    statement: Statement,
    params: unknown[],
    inTransaction: boolean,
  ): Promise<AppendRow | undefined> {
    // Inside a caller's transaction a failed statement would abort it: fence it with a savepoint.
    if (inTransaction) await client.query('SAVEPOINT potter_append');
    try {
      const { rows } = await run<AppendRow>(client, statement, params);
      if (inTransaction) await client.query('RELEASE SAVEPOINT potter_append');
      return rows[0];
    } catch (error) {
      if (inTransaction) await client.query('ROLLBACK TO SAVEPOINT potter_append');
      if (sqlStateOf(error) === SQLSTATE.uniqueViolation) return undefined;
      throw translateWriteError(error);
    }
  }

  /**
   * Why did an append write nothing? Deleted stream, idempotent retry (returns the version),
   * version conflict or conflicting ids (throw), or nothing any more (returns `undefined`: retry).
   */
  async #explainFailedAppend(
    client: SqlClient,
    streamId: string,
    expected: ExpectedVersion,
    prepared: readonly PreparedEvent[],
  ): Promise<number | undefined> {
    const ids = prepared.map((event) => event.id);
    const { rows } = await run<ConflictRow>(client, this.#sql.appendConflict, [streamId, ids]);
    const stream = rows.find((row) => row.kind === 'stream');
    if (stream?.deleted) throw new StreamDeletedError(streamId);
    const stored = new Map<string, { id: string; streamId: string; streamVersion: number }>();
    for (const row of rows) {
      if (row.kind === 'event' && row.event_id !== null) {
        stored.set(row.event_id, {
          id: row.event_id,
          streamId: row.stream_id,
          streamVersion: row.stream_version,
        });
      }
    }
    const storedInOrder = (): ReturnType<typeof stored.get>[] => ids.map((id) => stored.get(id));
    if (stored.has(ids[0]!)) return idempotentRetryVersion(streamId, expected, prepared, storedInOrder());
    const version = stream?.stream_version ?? 0;
    checkExpectedVersion(streamId, expected, version, version > 0);
    if (stored.size > 0 || new Set(ids).size !== ids.length) {
      idempotentRetryVersion(streamId, expected, prepared, storedInOrder()); // throws: not the same append
    }
    return undefined;
  }
}
