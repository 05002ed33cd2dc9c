import { randomUUID } from 'node:crypto';
import type { ResolvedBackoff } from '../../core/backoff';
import { ConfigurationError } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import { DEFAULT_EVENT_STORE_SCHEMA, quoteSchema } from '../../eventsourcing/sql/schema';
import type { SqlClient } from '../../eventsourcing/sql/sql-client';
import type { DurableTimer, TimerHandler, TimerService, TimerWriteOptions } from '../timer-service';
import {
  checkHandlerKind,
  describeFailure,
  normalizeTimer,
  resolveTimerRetry,
  timerRetryDelay,
  type TimerRetryOptions,
} from '../timer-support';

/** Options of {@link SqlTimerService}. */
export interface SqlTimerServiceOptions {
  /** The schema whose migrations created `timers` (those of the event store). @default 'potter' */
  schema?: string;
  /** How often the table is checked for due timers when nothing else wakes the service. @default 1000 */
  pollIntervalMs?: number;
  /** At most this many timers are fired one after the other before the service looks again. @default 100 */
  batchSize?: number;
  /** Delay before a timer whose handler threw fires again. @default 1 s doubling to 5 min, `equal` jitter */
  retry?: TimerRetryOptions;
  /** Where handler failures and polling errors are reported. @default silent */
  logger?: Logger;
  /** Names this instance in log lines. @default a random UUID */
  instanceId?: string;
  /**
   * Send `NOTIFY <schema>_timers` when a timer due within one poll interval is scheduled, and
   * `LISTEN` for it, so other instances fire it without waiting for their next poll. Needs a
   * client with `listen` to receive (PGlite and `PgSqlClient` have it). @default true
   */
  notify?: boolean;
}

/** A claimed row. */
interface TimerRow {
  timer_id: string;
  kind: string;
  payload: unknown;
  attempts: number;
  due_at_ms: number;
  /** `xmin` of the claimed row version: the firing deletes that version only. */
  row_version: string;
}

/** The loop's sleep between two rounds. */
interface Sleep {
  until: number;
  timer: NodeJS.Timeout | undefined;
  resolve: () => void;
}

/** What one firing transaction did. */
type FireOutcome = { fired: true } | { fired: false; nextInMs: number | undefined };

/**
 * Durable timers in PostgreSQL (or PGlite): one row per pending timer in `<schema>.timers`, created
 * by the event store's migrations (`migrateEventStore`, v7). Any number of instances may run on one
 * table.
 *
 * - **Fires once.** Each firing is one transaction: it claims the soonest due timer of a kind this
 *   instance handles (`FOR UPDATE SKIP LOCKED`, on the database clock), runs the handler with
 *   `firing.tx` = that transaction, deletes the row and commits. Writes through `firing.tx`
 *   therefore commit exactly when the timer is consumed (exactly-once effect); other effects are
 *   at-least-once (a crash before the commit fires the timer again).
 * - **Failures.** When the handler throws (or the commit fails), its writes are rolled back (to a
 *   savepoint), and the timer's `attempts`, `last_error` and `due_at` (now + backoff) are updated:
 *   it fires again with `firing.attempt` one higher. A timer is never dropped.
 * - **Cancel** deletes the row. It waits for a firing in progress (row lock), then resolves to
 *   false; a cancel that committed first means the timer never fires.
 * - **Wake-up.** The table is polled every `pollIntervalMs`; between polls the service sleeps until
 *   the soonest timer it knows of, a timer it schedules itself, or a `NOTIFY` from another
 *   instance that scheduled one due soon.
 *
 * Timers are fired one after the other per instance. On PGlite (one connection) a handler must use
 * `firing.tx` for its queries: the client itself waits for the firing's transaction.
 */
export class SqlTimerService implements TimerService<SqlClient> {
  readonly #client: SqlClient;
  readonly #table: string;
  readonly #channel: string;
  readonly #pollIntervalMs: number;
  readonly #batchSize: number;
  readonly #retry: ResolvedBackoff;
  readonly #logger: Logger;
  readonly #instanceId: string;
  readonly #notify: boolean;
  readonly #handlers = new Map<string, TimerHandler<unknown, SqlClient>>();
  readonly #sql: {
    claim: string;
    nextDue: string;
    delete: string;
    fail: string;
  };
  #running = false;
  #lifecycle: Promise<void> = Promise.resolve();
  #loop: Promise<void> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  /** The sleep between two rounds, if the loop is sleeping. */
  #sleep: Sleep | undefined;
  /** A wake-up asked for while a round runs. */
  #wakeRequestedAt = Number.POSITIVE_INFINITY;

  /** The timer service beside an SQL event store: same client, same schema (its migrations created the table). */
  static for(
    eventStore: { client: SqlClient; schema: string },
    options: Omit<SqlTimerServiceOptions, 'schema'> = {},
  ): SqlTimerService {
    return new SqlTimerService(eventStore.client, { ...options, schema: eventStore.schema });
  }

  constructor(client: SqlClient, options: SqlTimerServiceOptions = {}) {
    const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    this.#client = client;
    this.#table = `${quoteSchema(schema)}.timers`;
    this.#channel = `${schema}_timers`;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#batchSize = options.batchSize ?? 100;
    if (!(this.#pollIntervalMs > 0 && this.#pollIntervalMs <= 2_147_483_647)) {
      throw new ConfigurationError('pollIntervalMs must be a positive number of milliseconds.', {
        pollIntervalMs: this.#pollIntervalMs,
      });
    }
    if (!Number.isInteger(this.#batchSize) || this.#batchSize < 1) {
      throw new ConfigurationError('batchSize must be an integer >= 1.', { batchSize: this.#batchSize });
    }
    this.#retry = resolveTimerRetry(options.retry);
    this.#logger = options.logger ?? silentLogger;
    this.#instanceId = options.instanceId ?? randomUUID();
    this.#notify = options.notify ?? true;
    const t = this.#table;
    const columns = `timer_id, kind, payload, attempts, floor(extract(epoch FROM due_at) * 1000)::float8 AS due_at_ms`;
    this.#sql = {
      claim: `SELECT ${columns}, xmin::text AS row_version FROM ${t}
        WHERE due_at <= now() AND kind = ANY($1::text[])
        ORDER BY due_at FOR UPDATE SKIP LOCKED LIMIT 1`,
      nextDue: `SELECT (extract(epoch FROM min(due_at) - now()) * 1000)::float8 AS next_in_ms FROM ${t}
        WHERE due_at > now() AND kind = ANY($1::text[])`,
      delete: `DELETE FROM ${t} WHERE timer_id = $1 AND xmin = $2::text::xid`,
      fail: `UPDATE ${t} SET attempts = $3, last_error = $4, due_at = now() + $5::float8 * interval '1 millisecond'
        WHERE timer_id = $1 AND xmin = $2::text::xid`,
    };
  }

  async schedule<P>(
    timer: { id: string; kind: string; dueAt: Date | number; payload?: P },
    options: TimerWriteOptions<SqlClient> = {},
  ): Promise<void> {
    const { id, kind, dueAt, payloadJson } = normalizeTimer(timer);
    const upsert = `INSERT INTO ${this.#table} (timer_id, kind, due_at, payload) VALUES ($1, $2, $3, $4::jsonb)
      ON CONFLICT (timer_id) DO UPDATE SET kind = EXCLUDED.kind, due_at = EXCLUDED.due_at,
        payload = EXCLUDED.payload, attempts = 0, last_error = NULL, created_at = now()`;
    const params: unknown[] = [id, kind, new Date(dueAt), payloadJson];
    // Other instances look at the table at least once per poll interval and then sleep until the
    // soonest timer they saw: only a timer due before their next look needs a notification. In a
    // transaction, the notification is delivered when (and if) it commits.
    const notify = this.#notify && dueAt < Date.now() + this.#pollIntervalMs;
    const text = notify
      ? `WITH upserted AS (${upsert} RETURNING 1) SELECT pg_notify($5, $6) FROM upserted`
      : upsert;
    if (notify) params.push(this.#channel, String(dueAt));
    await (options.tx ?? this.#client).query(text, params);
    if (this.#handlers.has(kind)) this.#wakeAt(dueAt);
  }

  async cancel(id: string, options: TimerWriteOptions<SqlClient> = {}): Promise<boolean> {
    const { rows } = await (options.tx ?? this.#client).query(
      `DELETE FROM ${this.#table} WHERE timer_id = $1 RETURNING 1 AS deleted`,
      [id],
    );
    return rows.length > 0;
  }

  async get(id: string): Promise<DurableTimer | undefined> {
    const { rows } = await this.#client.query<Omit<TimerRow, 'row_version'>>(
      `SELECT timer_id, kind, payload, attempts, floor(extract(epoch FROM due_at) * 1000)::float8 AS due_at_ms
       FROM ${this.#table} WHERE timer_id = $1`,
      [id],
    );
    const row = rows[0];
    return row && toDurableTimer(row);
  }

  handle<P>(kind: string, handler: TimerHandler<P, SqlClient>): void {
    checkHandlerKind(kind, this.#handlers);
    this.#handlers.set(kind, handler as TimerHandler<unknown, SqlClient>);
    this.#wakeAt(Date.now());
  }

  start(): Promise<void> {
    // start() and stop() run one after the other, in call order.
    this.#lifecycle = this.#lifecycle.catch(() => undefined).then(() => this.#start());
    return this.#lifecycle;
  }

  stop(): Promise<void> {
    this.#lifecycle = this.#lifecycle.catch(() => undefined).then(() => this.#stop());
    return this.#lifecycle;
  }

  async #start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    if (this.#notify && this.#client.listen) {
      try {
        this.#unlisten = await this.#client.listen(this.#channel, (payload) => {
          const dueAt = Number(payload);
          this.#wakeAt(payload !== '' && Number.isFinite(dueAt) ? dueAt : Date.now());
        });
      } catch (error) {
        this.#logger.warn('Timer notifications are unavailable; timers are found by polling.', {
          instanceId: this.#instanceId,
          channel: this.#channel,
          error,
        });
      }
    }
    this.#loop = this.#run();
  }

  async #stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#endSleep();
    await this.#loop;
    this.#loop = undefined;
    const unlisten = this.#unlisten;
    this.#unlisten = undefined;
    await unlisten?.().catch(() => undefined);
  }

  async #run(): Promise<void> {
    while (this.#running) {
      this.#wakeRequestedAt = Number.POSITIVE_INFINITY;
      let waitMs: number;
      try {
        waitMs = await this.#round();
      } catch (error) {
        this.#logger.error('Looking for due timers failed; trying again after the poll interval.', {
          instanceId: this.#instanceId,
          error,
        });
        waitMs = this.#pollIntervalMs;
      }
      if (!this.#running) break;
      await this.#sleepUntil(Math.min(Date.now() + waitMs, this.#wakeRequestedAt));
    }
  }

  /** Fires due timers (at most a batch); resolves to how long to wait before the next round. */
  async #round(): Promise<number> {
    const kinds = [...this.#handlers.keys()];
    if (kinds.length === 0) return this.#pollIntervalMs;
    for (let fired = 0; fired < this.#batchSize; fired++) {
      if (!this.#running) return 0;
      const outcome = await this.#fireNext(kinds);
      if (!outcome.fired) {
        return Math.min(Math.max(outcome.nextInMs ?? this.#pollIntervalMs, 0), this.#pollIntervalMs);
      }
    }
    return 0;
  }

  /** One firing transaction: claims the soonest due timer and runs its handler. */
  async #fireNext(kinds: string[]): Promise<FireOutcome> {
    let claimed: TimerRow | undefined;
    let failure: { error: unknown } | undefined;
    let recorded = false;
    try {
      return await this.#client.transaction(async (tx): Promise<FireOutcome> => {
        const { rows } = await tx.query<TimerRow>(this.#sql.claim, [kinds]);
        const row = rows[0];
        if (row === undefined) {
          // Same transaction, same now(): a timer falling due in between is not missed.
          const next = await tx.query<{ next_in_ms: number | null }>(this.#sql.nextDue, [kinds]);
          return { fired: false, nextInMs: next.rows[0]?.next_in_ms ?? undefined };
        }
        claimed = row;
        const handler = this.#handlers.get(row.kind) as TimerHandler<unknown, SqlClient>;
        const attempt = row.attempts + 1;
        await tx.query('SAVEPOINT potter_timer_firing');
        try {
          await handler(toDurableTimer(row), { tx, attempt });
          // Deletes the claimed version only: a handler that rescheduled its own timer through
          // `tx` (an update of the row) keeps the new one.
          await tx.query(this.#sql.delete, [row.timer_id, row.row_version]);
        } catch (error) {
          failure = { error };
          await tx.query('ROLLBACK TO SAVEPOINT potter_timer_firing');
          await this.#recordFailure(tx, row, error);
          recorded = true;
        }
        return { fired: true };
      });
    } catch (error) {
      if (claimed === undefined) throw error;
      // The commit failed, or the savepoint could not be restored: the firing's writes are rolled
      // back and the timer is still there (unless a commit that reported failure went through —
      // then its row version is gone and this updates nothing).
      failure ??= { error };
      recorded = false;
      await this.#recordFailure(this.#client, claimed, failure.error).catch((recordError: unknown) =>
        this.#logger.error('Could not record a failed timer firing; it fires again at once.', {
          instanceId: this.#instanceId,
          timerId: claimed?.timer_id,
          error: recordError,
        }),
      );
      return { fired: true };
    } finally {
      if (failure !== undefined && claimed !== undefined) {
        this.#logger.warn(
          'A timer firing failed (its handler threw, or the commit failed); it will fire again.',
          {
            instanceId: this.#instanceId,
            timerId: claimed.timer_id,
            kind: claimed.kind,
            attempt: claimed.attempts + 1,
            recordedInFiring: recorded,
            error: failure.error,
          },
        );
      }
    }
  }

  async #recordFailure(client: SqlClient, row: TimerRow, error: unknown): Promise<void> {
    const attempts = row.attempts + 1;
    await client.query(this.#sql.fail, [
      row.timer_id,
      row.row_version,
      attempts,
      describeFailure(error),
      timerRetryDelay(this.#retry, attempts),
    ]);
  }

  /** Wakes the loop at `at` (local ms) if that is sooner than planned. */
  #wakeAt(at: number): void {
    if (!this.#running) return;
    const sleep = this.#sleep;
    if (sleep === undefined) {
      this.#wakeRequestedAt = Math.min(this.#wakeRequestedAt, at);
      return;
    }
    if (at >= sleep.until) return;
    clearTimeout(sleep.timer);
    this.#armSleep(sleep, at);
  }

  #sleepUntil(until: number): Promise<void> {
    return new Promise((resolve) => {
      const sleep: Sleep = { until, timer: undefined, resolve };
      this.#sleep = sleep;
      this.#armSleep(sleep, until);
    });
  }

  #armSleep(sleep: Sleep, until: number): void {
    sleep.until = until;
    sleep.timer = setTimeout(() => this.#endSleep(), Math.max(until - Date.now(), 0));
    sleep.timer.unref();
  }

  #endSleep(): void {
    const sleep = this.#sleep;
    if (sleep === undefined) return;
    this.#sleep = undefined;
    clearTimeout(sleep.timer);
    sleep.resolve();
  }
}

function toDurableTimer(row: Omit<TimerRow, 'row_version'>): DurableTimer {
  return Object.freeze({
    id: row.timer_id,
    kind: row.kind,
    dueAt: Number(row.due_at_ms),
    payload: row.payload,
    attempts: Number(row.attempts),
  });
}
