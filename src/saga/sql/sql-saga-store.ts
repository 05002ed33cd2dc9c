import { ConfigurationError } from '../../core/errors';
import { DEFAULT_EVENT_STORE_SCHEMA, quoteSchema } from '../../eventsourcing/sql/schema';
import { SQLSTATE, sqlStateOf, type SqlClient } from '../../eventsourcing/sql/sql-client';
import type { SqlEventStore } from '../../eventsourcing/sql/sql-event-store';
import { hash64, streamLockKey } from '../../eventsourcing/sql/sql-statements';
import { encodeEvents } from '../../eventsourcing/sql/sql-codec';
import { prepareEvents } from '../../eventsourcing/store-support';
import { sagaStreamId, toSagaStoreEvents } from '../saga-event-log';
import { SagaConflictError, SagaOwnershipLostError } from '../errors';
import {
  compareSagas,
  leaseMsOf,
  OPEN_SAGA_STATUSES,
  UNFINISHED_SAGA_STATUSES,
  type SagaLease,
  type SagaRenewal,
  type SagaStore,
} from '../saga-store';
import type { SagaEvent, SagaState, SagaStatus } from '../types';

/** Options of {@link SqlSagaStore}. */
export interface SqlSagaStoreOptions {
  /** The schema whose migrations created `sagas` (those of the event store, v6). @default 'potter' */
  schema?: string;
  /**
   * Record the saga events in this event store (on the same database as `client`), in the same
   * transaction as each state write (see {@link SagaStore.eventStore}).
   */
  eventStore?: SqlEventStore;
}

/** `state` as the driver returns it: parsed by default, a string with a custom jsonb parser. */
interface StateRow {
  state: SagaState | string;
}

interface RenewalRow {
  saga_id: string;
  cancel_requested: string | null;
}

/** The partial unique index of v6 that keeps one open saga per name and business key. */
const BUSINESS_KEY_INDEX = 'sagas_open_business_key_idx';
/** The primary key constraint of v6 (PostgreSQL's default name). */
const PRIMARY_KEY = 'sagas_pkey';

/**
 * How many times `create` inserts again when the open saga holding the business key settled
 * between the refused insert and the look-up of that saga.
 */
const CREATE_ATTEMPTS = 3;

// Literal lists (not parameters) so that the planner can match the partial indexes' predicates.
const sqlList = (statuses: readonly SagaStatus[]): string => statuses.map((s) => `'${s}'`).join(', ');
const UNFINISHED = sqlList(UNFINISHED_SAGA_STATUSES);
const OPEN = sqlList(OPEN_SAGA_STATUSES);

/** `now() + leaseMs` on the database clock, the lease duration being parameter `$n`. */
const leaseEnd = (n: number): string => `now() + $${n}::float8 * interval '1 millisecond'`;

/**
 * Saga state in PostgreSQL (or PGlite): one row per saga in `<schema>.sagas`, created by the event
 * store's migrations (`migrateEventStore`, v6). Every method is a single statement (`create` may
 * add a look-up to name the saga it conflicts with), so several orchestrator instances can share
 * the table:
 *
 * - `create` is an `INSERT`; the primary key refuses a taken id, and a partial unique index on
 *   `(saga_name, business_key)` over the open statuses refuses a second open saga with the same
 *   business key, atomically (both become a `SagaConflictError`).
 * - `save` is an `UPDATE … WHERE saga_id = … AND owner = … AND version = state.version - 1`: a
 *   stale version or a lost lease matches no row (`SagaOwnershipLostError`).
 * - `claim` locks free rows with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never get the
 *   same saga and do not wait for each other.
 *
 * Leases run on the database clock (`now()`), so instances with skewed clocks agree on expiry.
 * The columns `started_at` (from `state.startedAt`, for the order), `saga_name`, `correlation_id`
 * and `business_key` are written by `create` and never change; `updated_at` is the database time
 * of the last write.
 *
 * The state is stored as `jsonb`, so it must be JSON: a context (user data) keeps its numbers,
 * strings, booleans, `null`, arrays and plain objects, but loses what JSON loses — properties
 * whose value is `undefined` are dropped (`undefined` in an array becomes `null`), a `Date` comes
 * back as its ISO string, `NaN`/`Infinity` as `null`, a `Map` or `Set` as `{}`, and a `bigint`
 * cannot be saved (`TypeError`). `jsonb` does not keep the order of object keys, and PostgreSQL
 * refuses strings containing `\u0000` or unpaired surrogates. The in-memory store (which copies
 * with `structuredClone`) is more forgiving: keep contexts to JSON to move between them freely.
 */
export class SqlSagaStore implements SagaStore {
  readonly #client: SqlClient;
  readonly #table: string;

  /**
   * The store beside an SQL event store: same client, same schema (its migrations created the
   * table). Given an `SqlEventStore`, every write also appends the saga's events to it in the same
   * transaction (what the saga read model is projected from: `SagaModule`'s `monitoring`), unless
   * `recordEvents` is false (one statement per write instead of a short transaction).
   */
  static for(
    eventStore: SqlEventStore | { client: SqlClient; schema: string },
    options: { recordEvents?: boolean } = {},
  ): SqlSagaStore {
    if (options.recordEvents === true && !('appendToStream' in eventStore)) {
      throw new ConfigurationError(
        'SqlSagaStore.for(…, { recordEvents: true }) needs the SqlEventStore itself (not { client, schema }) to record saga events in.',
        { schema: eventStore.schema },
      );
    }
    return new SqlSagaStore(eventStore.client, {
      schema: eventStore.schema,
      ...(options.recordEvents !== false && 'appendToStream' in eventStore ? { eventStore } : {}),
    });
  }

  /** The event store the saga events are recorded in, if any. */
  readonly eventStore: SqlEventStore | undefined;

  /** A store on `client` whose table exists (`migrateEventStore(client, { schema })`). */
  readonly #statement: string;

  readonly #events: SagaEventStatements | undefined;

  constructor(client: SqlClient, options: SqlSagaStoreOptions = {}) {
    this.#client = client;
    this.eventStore = options.eventStore;
    this.#events =
      options.eventStore === undefined
        ? undefined
        : new SagaEventStatements(options.eventStore.schema, options.eventStore.notifies);
    const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    this.#table = `${quoteSchema(schema)}.sagas`;
    // Prepared once per connection (create and save are every transition's write); named after the
    // schema so stores of different schemas on one pool never collide.
    this.#statement = `potter_${hash64(schema)}_saga`;
  }

  /**
   * The events of one write as the extra parameters of the `…_events` statements (`$n` stream id,
   * `$n+1` count, `$n+2` the events as a JSON array, `$n+3` recorded-at), or `undefined` when the
   * store records no events or the write has none.
   */
  #eventParams(sagaId: string, events: readonly SagaEvent[] | undefined): unknown[] | undefined {
    if (this.#events === undefined || events === undefined || events.length === 0) return undefined;
    const recordedAt = new Date();
    const prepared = prepareEvents(toSagaStoreEvents(events), recordedAt);
    return [sagaStreamId(sagaId), prepared.length, encodeEvents(prepared), recordedAt.toISOString()];
  }

  async create(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    const leaseMs = leaseMsOf(lease);
    const unfinished = UNFINISHED_SAGA_STATUSES.includes(state.status);
    const json = JSON.stringify(state);
    const recorded = this.#eventParams(state.sagaId, events);
    const insert = `INSERT INTO ${this.#table} (saga_id, saga_name, correlation_id, business_key, status, state, version,
             owner, lease_expires_at, cancel_requested, started_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7,
             CASE WHEN $9::boolean THEN $8::text END, CASE WHEN $9::boolean THEN ${leaseEnd(10)} END, NULL,
             to_timestamp($11::float8 / 1000), now())`;
    for (let attempt = 1; ; attempt++) {
      try {
        const params = [
          state.sagaId,
          state.sagaName,
          state.correlationId,
          state.businessKey ?? null,
          state.status,
          json,
          state.version,
          lease.owner,
          unfinished,
          leaseMs,
          state.startedAt,
        ];
        if (recorded === undefined) {
          await this.#client.query(insert, params, { name: `${this.#statement}_create` });
        } else {
          await this.#client.query(this.#events!.statement(insert, 12), [...params, ...recorded], {
            name: `${this.#statement}_create_events`,
          });
        }
        return;
      } catch (error) {
        if (sqlStateOf(error) !== SQLSTATE.uniqueViolation) throw error;
        if (!(await this.#onBusinessKey(error, state))) {
          throw new SagaConflictError(`A saga with id ${state.sagaId} exists already.`, {
            sagaId: state.sagaId,
          });
        }
        const conflict = await this.#businessKeyConflict(state);
        if (conflict !== undefined) throw conflict;
        // The open saga settled in the meantime: the key is free again.
        if (attempt >= CREATE_ATTEMPTS) throw this.#keyTaken(state, undefined);
      }
    }
  }

  async save(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    const leaseMs = leaseMsOf(lease);
    const recorded = this.#eventParams(state.sagaId, events);
    const update = `UPDATE ${this.#table} SET
           state = $4::jsonb, status = $5, version = $3::integer, updated_at = now(),
           owner = CASE WHEN $6::boolean THEN owner END,
           lease_expires_at = CASE WHEN $6::boolean THEN ${leaseEnd(7)} END,
           cancel_requested = CASE WHEN $6::boolean THEN cancel_requested END
         WHERE saga_id = $1 AND owner = $2 AND version = $3::integer - 1`;
    const params = [
      state.sagaId,
      lease.owner,
      state.version,
      JSON.stringify(state),
      state.status,
      UNFINISHED_SAGA_STATUSES.includes(state.status),
      leaseMs,
    ];
    let saved: boolean;
    try {
      if (recorded === undefined) {
        const { rows } = await this.#client.query(`${update} RETURNING 1 AS saved`, params, {
          name: `${this.#statement}_save`,
        });
        saved = rows.length > 0;
      } else {
        const { rows } = await this.#client.query<{ saved: number }>(
          this.#events!.statement(update, 8),
          [...params, ...recorded],
          { name: `${this.#statement}_save_events` },
        );
        saved = Number(rows[0]?.saved ?? 0) > 0;
      }
    } catch (error) {
      // Only a save moving a settled saga back to an open status can meet the business-key index.
      if (sqlStateOf(error) === SQLSTATE.uniqueViolation && state.businessKey !== undefined) {
        throw (await this.#businessKeyConflict(state)) ?? this.#keyTaken(state, undefined);
      }
      throw error;
    }
    if (!saved) throw new SagaOwnershipLostError(state.sagaId, lease.owner);
  }

  async load(sagaId: string): Promise<SagaState | undefined> {
    const { rows } = await this.#client.query<StateRow>(
      `SELECT state FROM ${this.#table} WHERE saga_id = $1`,
      [sagaId],
    );
    return rows[0] === undefined ? undefined : stateOf(rows[0]);
  }

  async list(statuses: readonly SagaStatus[] = UNFINISHED_SAGA_STATUSES): Promise<SagaState[]> {
    if (statuses.length === 0) return [];
    const { rows } = await this.#client.query<StateRow>(
      `SELECT state FROM ${this.#table} WHERE status = ANY($1::text[])
        ORDER BY started_at, saga_id COLLATE "C"`,
      [[...statuses]],
    );
    return rows.map(stateOf);
  }

  async findOpen(sagaName: string, businessKey: string): Promise<SagaState | undefined> {
    const { rows } = await this.#client.query<StateRow>(
      `SELECT state FROM ${this.#table}
        WHERE saga_name = $1 AND business_key = $2 AND business_key IS NOT NULL AND status IN (${OPEN})`,
      [sagaName, businessKey],
    );
    return rows[0] === undefined ? undefined : stateOf(rows[0]);
  }

  async claim(lease: SagaLease, limit: number): Promise<SagaState[]> {
    const leaseMs = leaseMsOf(lease);
    if (!(limit >= 1)) return [];
    // MATERIALIZED: the locking sub-select runs once, whatever the plan of the update.
    const { rows } = await this.#client.query<StateRow>(
      `WITH free AS MATERIALIZED (
         SELECT saga_id FROM ${this.#table}
          WHERE status IN (${UNFINISHED}) AND (owner IS NULL OR lease_expires_at <= now())
          ORDER BY started_at, saga_id COLLATE "C"
          LIMIT $3
          FOR UPDATE SKIP LOCKED
       )
       UPDATE ${this.#table} s SET owner = $1, lease_expires_at = ${leaseEnd(2)}
         FROM free WHERE s.saga_id = free.saga_id
       RETURNING s.state`,
      [lease.owner, leaseMs, Number.isFinite(limit) ? Math.floor(limit) : null],
    );
    return rows.map(stateOf).sort(compareSagas);
  }

  async acquire(sagaId: string, lease: SagaLease): Promise<SagaState | undefined> {
    const leaseMs = leaseMsOf(lease);
    const { rows } = await this.#client.query<StateRow>(
      `UPDATE ${this.#table} SET owner = $2, lease_expires_at = ${leaseEnd(3)}
        WHERE saga_id = $1 AND status IN (${OPEN})
          AND (owner IS NULL OR owner = $2 OR lease_expires_at <= now())
        RETURNING state`,
      [sagaId, lease.owner, leaseMs],
    );
    return rows[0] === undefined ? undefined : stateOf(rows[0]);
  }

  async renew(lease: SagaLease, sagaIds: readonly string[]): Promise<SagaRenewal[]> {
    const leaseMs = leaseMsOf(lease);
    if (sagaIds.length === 0) return [];
    const { rows } = await this.#client.query<RenewalRow>(
      `UPDATE ${this.#table} SET lease_expires_at = ${leaseEnd(3)}
        WHERE saga_id = ANY($2::text[]) AND owner = $1
        RETURNING saga_id, cancel_requested`,
      [lease.owner, [...sagaIds], leaseMs],
    );
    const held = new Map(rows.map((row) => [row.saga_id, row.cancel_requested]));
    const renewals: SagaRenewal[] = [];
    for (const sagaId of new Set(sagaIds)) {
      if (!held.has(sagaId)) continue;
      const cancelRequested = held.get(sagaId);
      renewals.push(
        cancelRequested === null || cancelRequested === undefined ? { sagaId } : { sagaId, cancelRequested },
      );
    }
    return renewals;
  }

  async release(owner: string, sagaIds?: readonly string[]): Promise<void> {
    if (sagaIds === undefined) {
      await this.#client.query(
        `UPDATE ${this.#table} SET owner = NULL, lease_expires_at = NULL WHERE owner = $1`,
        [owner],
      );
      return;
    }
    if (sagaIds.length === 0) return;
    await this.#client.query(
      `UPDATE ${this.#table} SET owner = NULL, lease_expires_at = NULL
        WHERE saga_id = ANY($2::text[]) AND owner = $1`,
      [owner, [...sagaIds]],
    );
  }

  async requestCancel(sagaId: string, reason?: string): Promise<boolean> {
    const { rows } = await this.#client.query(
      `UPDATE ${this.#table} SET cancel_requested = $2
        WHERE saga_id = $1 AND status IN (${UNFINISHED})
        RETURNING 1 AS requested`,
      [sagaId, reason ?? ''],
    );
    return rows.length > 0;
  }

  /** Does nothing: the client is shared (with the event store, other stores) and stays open. */
  async close(): Promise<void> {}

  /** Whether a unique violation of `create` is the business-key index's (else the primary key's). */
  async #onBusinessKey(error: unknown, state: SagaState): Promise<boolean> {
    if (state.businessKey === undefined) return false;
    const constraint = (error as { constraint?: unknown }).constraint;
    if (constraint === BUSINESS_KEY_INDEX) return true;
    if (constraint === PRIMARY_KEY) return false;
    // A driver that does not report the constraint: the id decides.
    const { rows } = await this.#client.query(`SELECT 1 AS taken FROM ${this.#table} WHERE saga_id = $1`, [
      state.sagaId,
    ]);
    return rows.length === 0;
  }

  /** The conflict with the open saga holding `state`'s business key, if one still does. */
  async #businessKeyConflict(state: SagaState): Promise<SagaConflictError | undefined> {
    const open = await this.findOpen(state.sagaName, state.businessKey ?? '');
    return open === undefined ? undefined : this.#keyTaken(state, open.sagaId);
  }

  #keyTaken(state: SagaState, openSagaId: string | undefined): SagaConflictError {
    const holder = openSagaId === undefined ? 'Another saga' : `Saga ${openSagaId}`;
    return new SagaConflictError(
      `${holder} (${state.sagaName}) is open for business key ${String(state.businessKey)}.`,
      { sagaId: openSagaId, sagaName: state.sagaName, businessKey: state.businessKey },
    );
  }
}

function stateOf(row: StateRow): SagaState {
  return typeof row.state === 'string' ? (JSON.parse(row.state) as SagaState) : row.state;
}

/**
 * The state write and the append of its saga events as ONE statement (one round trip, atomic): the
 * write (`INSERT` of `create` or fenced `UPDATE` of `save`) is a CTE, and the append — the SQL
 * event store's own steps: the stream's advisory lock, the `streams` row's version, the `events`
 * rows, a `NOTIFY` — runs only for the row it wrote. A refused save (lost lease, stale version)
 * writes no event; a failed insert (taken id or business key) fails the whole statement.
 *
 * The saga's stream has one writer at a time (every save is fenced by owner and version, and an
 * owner's saves are sequential), so taking the stream lock after the write (the event store takes
 * it first) cannot reorder its versions; a soft-deleted saga stream still gets the events (the
 * state must never be saved without them).
 */
class SagaEventStatements {
  readonly #events: string;
  readonly #streams: string;
  readonly #key: number;
  readonly #notify: string;

  constructor(schema: string, notify: boolean) {
    const s = quoteSchema(schema);
    this.#events = `${s}.events`;
    this.#streams = `${s}.streams`;
    this.#key = streamLockKey(schema);
    this.#notify = notify ? `, pg_notify('${schema}_events', '') IS NULL AS notified` : '';
  }

  /** `write` (without RETURNING) and the append; the event parameters start at `$n`. */
  statement(write: string, n: number): string {
    const [stream, count, docs, at] = [n, n + 1, n + 2, n + 3].map((i) => `$${i}`);
    return `WITH written_state AS MATERIALIZED (${write} RETURNING 1 AS one),
      lock AS MATERIALIZED (
        SELECT pg_advisory_xact_lock(${this.#key}, hashtext(${stream}::text)) FROM written_state
      ),
      stream AS (
        INSERT INTO ${this.#streams} AS st (stream_id, version)
        SELECT ${stream}::text, ${count}::int FROM lock
        ON CONFLICT (stream_id) DO UPDATE SET version = st.version + ${count}::int
        RETURNING st.version
      ),
      written AS (
        INSERT INTO ${this.#events}
          (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata, recorded_at)
        SELECT e.doc->>'id', ${stream}::text, stream.version - ${count}::int + e.n::int, e.doc->>'type',
          (e.doc->>'schemaVersion')::int, e.doc->'payload', e.doc->'metadata', ${at}::timestamptz
        FROM stream, jsonb_array_elements(${docs}::jsonb) WITH ORDINALITY AS e(doc, n)
        ORDER BY e.n
        RETURNING 1
      )
    SELECT (SELECT count(*) FROM written_state)::int AS saved,
      (SELECT count(*) FROM written)::int AS recorded${this.#notify}`;
  }
}
