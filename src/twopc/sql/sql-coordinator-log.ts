import { DEFAULT_EVENT_STORE_SCHEMA, quoteSchema } from '../../eventsourcing/sql/schema';
import { SQLSTATE, sqlStateOf, type SqlClient } from '../../eventsourcing/sql/sql-client';
import { hash64 } from '../../eventsourcing/sql/sql-statements';
import { TwoPhaseConflictError, TwoPhaseTransactionNotFoundError } from '../errors';
import { checkLease } from '../memory-coordinator-log';
import type {
  CoordinatorLog,
  TwoPhaseDecision,
  TwoPhaseLease,
  TwoPhaseLogOutcome,
  TwoPhaseRecord,
} from '../types';

/** Options of {@link SqlCoordinatorLog}. */
export interface SqlCoordinatorLogOptions {
  /** The schema whose migrations created `twopc_transactions` (those of the event store). @default 'potter' */
  schema?: string;
}

interface Row {
  tx_id: string;
  participants: string[];
  done: string[];
  decision: TwoPhaseDecision | null;
  owner: string | null;
  completed: boolean;
  begun_at_ms: string | number;
  age_ms: string | number;
}

/** The lease end for a duration in ms passed as parameter `$n`, on the database clock. */
const leaseEnd = (n: number): string => `now() + $${n}::double precision * interval '1 millisecond'`;

/**
 * A coordinator log in PostgreSQL (or PGlite): one row per transaction in
 * `<schema>.twopc_transactions`, created by the event store's migrations (`migrateEventStore`, v8).
 * Every write is one statement, durable when it resolves.
 *
 * - `decide` is a conditional update (`WHERE decision IS NULL`): the first decision wins, even
 *   between coordinators racing on the same transaction.
 * - `markDone` appends to the `done` array under the row lock, so parallel confirmations are kept.
 * - `claim` locks free rows with `FOR UPDATE SKIP LOCKED`: coordinators recovering the same log
 *   at the same time never get the same transaction while its lease runs.
 *
 * Leases and ages run on the database clock (`now()`), so coordinators with skewed clocks agree.
 * Completed transactions stay in the table (an in-doubt participant asking late still gets the
 * right answer); delete old ones with `purge`.
 */
export class SqlCoordinatorLog implements CoordinatorLog {
  readonly #client: SqlClient;
  readonly #table: string;
  /** Prefix of the prepared statements (per schema, so logs of several schemas share a pool). */
  readonly #statement: string;

  /** The log beside an SQL event store: same client, same schema (its migrations created the table). */
  static for(eventStore: { client: SqlClient; schema: string }): SqlCoordinatorLog {
    return new SqlCoordinatorLog(eventStore.client, { schema: eventStore.schema });
  }

  /** A log on `client` whose table exists (`migrateEventStore(client, { schema })`). */
  constructor(client: SqlClient, options: SqlCoordinatorLogOptions = {}) {
    this.#client = client;
    const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    this.#table = `${quoteSchema(schema)}.twopc_transactions`;
    // Every transaction runs begin, decide, markDone × participants and complete: prepared once
    // per connection, they skip parsing and planning.
    this.#statement = `potter_${hash64(schema)}_twopc`;
  }

  async begin(txId: string, participants: readonly string[], lease: TwoPhaseLease): Promise<void> {
    checkLease(lease);
    try {
      await this.#client.query(
        `INSERT INTO ${this.#table} (tx_id, participants, owner, lease_expires_at)
         VALUES ($1, $2::jsonb, $3, ${leaseEnd(4)})`,
        [txId, JSON.stringify(participants), lease.owner, lease.leaseMs],
        { name: `${this.#statement}_begin` },
      );
    } catch (error) {
      if (sqlStateOf(error) === SQLSTATE.uniqueViolation) throw new TwoPhaseConflictError(txId);
      throw error;
    }
  }

  async decide(txId: string, decision: TwoPhaseDecision): Promise<TwoPhaseDecision> {
    const { rows } = await this.#client.query<{ decision: TwoPhaseDecision }>(
      `UPDATE ${this.#table} SET decision = $2, decided_at = now()
        WHERE tx_id = $1 AND decision IS NULL RETURNING decision`,
      [txId, decision],
      { name: `${this.#statement}_decide` },
    );
    if (rows[0] !== undefined) return rows[0].decision;
    // Decided already (or unknown): a new statement sees the decision that won.
    const { rows: current } = await this.#client.query<{ decision: TwoPhaseDecision | null }>(
      `SELECT decision FROM ${this.#table} WHERE tx_id = $1`,
      [txId],
    );
    const recorded = current[0]?.decision;
    if (recorded === undefined || recorded === null) throw new TwoPhaseTransactionNotFoundError(txId);
    return recorded;
  }

  async markDone(txId: string, participant: string): Promise<void> {
    const { rows } = await this.#client.query(
      `UPDATE ${this.#table}
          SET done = CASE WHEN done @> jsonb_build_array($2::text) THEN done
                          ELSE done || jsonb_build_array($2::text) END
        WHERE tx_id = $1 RETURNING 1 AS found`,
      [txId, participant],
      { name: `${this.#statement}_done` },
    );
    if (rows.length === 0) throw new TwoPhaseTransactionNotFoundError(txId);
  }

  async complete(txId: string): Promise<void> {
    const { rows } = await this.#client.query(
      `UPDATE ${this.#table}
          SET completed_at = coalesce(completed_at, now()), owner = NULL, lease_expires_at = NULL
        WHERE tx_id = $1 RETURNING 1 AS found`,
      [txId],
      { name: `${this.#statement}_complete` },
    );
    if (rows.length === 0) throw new TwoPhaseTransactionNotFoundError(txId);
  }

  async outcome(txId: string): Promise<TwoPhaseLogOutcome> {
    const { rows } = await this.#client.query<{ decision: TwoPhaseDecision | null }>(
      `SELECT decision FROM ${this.#table} WHERE tx_id = $1`,
      [txId],
    );
    const row = rows[0];
    return row === undefined ? 'abort' : (row.decision ?? 'undecided');
  }

  async get(txId: string): Promise<TwoPhaseRecord | undefined> {
    const { rows } = await this.#client.query<Row>(`SELECT ${COLUMNS} FROM ${this.#table} WHERE tx_id = $1`, [
      txId,
    ]);
    return rows[0] && recordOf(rows[0]);
  }

  async unfinished(): Promise<TwoPhaseRecord[]> {
    const { rows } = await this.#client.query<Row>(
      `SELECT ${COLUMNS} FROM ${this.#table} WHERE completed_at IS NULL ORDER BY begun_at, tx_id COLLATE "C"`,
    );
    return rows.map(recordOf);
  }

  async claim(lease: TwoPhaseLease, limit: number): Promise<TwoPhaseRecord[]> {
    checkLease(lease);
    if (!(limit >= 1)) return [];
    // MATERIALIZED: the locking sub-select runs once, whatever the plan of the update.
    const { rows } = await this.#client.query<Row>(
      `WITH free AS MATERIALIZED (
         SELECT tx_id AS free_id FROM ${this.#table}
          WHERE completed_at IS NULL AND (owner IS NULL OR lease_expires_at <= now())
          ORDER BY begun_at, tx_id COLLATE "C"
          LIMIT $3
          FOR UPDATE SKIP LOCKED
       )
       UPDATE ${this.#table} t SET owner = $1, lease_expires_at = ${leaseEnd(2)}
         FROM free WHERE t.tx_id = free.free_id
       RETURNING ${COLUMNS}`,
      [lease.owner, lease.leaseMs, Number.isFinite(limit) ? Math.floor(limit) : null],
    );
    return rows.map(recordOf).sort((a, b) => a.begunAt - b.begunAt || (a.txId < b.txId ? -1 : 1));
  }

  async renew(txId: string, lease: TwoPhaseLease): Promise<boolean> {
    checkLease(lease);
    const { rows } = await this.#client.query<{ renewed: boolean; known: boolean }>(
      `WITH r AS (
         UPDATE ${this.#table} SET owner = $2, lease_expires_at = ${leaseEnd(3)}
          WHERE tx_id = $1 AND completed_at IS NULL
            AND (owner IS NULL OR owner = $2 OR lease_expires_at <= now())
         RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM r) AS renewed, EXISTS (SELECT 1 FROM ${this.#table} WHERE tx_id = $1) AS known`,
      [txId, lease.owner, lease.leaseMs],
    );
    const row = rows[0];
    if (row === undefined || !row.known) throw new TwoPhaseTransactionNotFoundError(txId);
    return row.renewed;
  }

  /** Deletes the transactions completed before `before`; resolves to how many. */
  async purge(before: Date): Promise<number> {
    const { rows } = await this.#client.query<{ deleted: number }>(
      `WITH d AS (DELETE FROM ${this.#table} WHERE completed_at < $1 RETURNING 1)
       SELECT count(*)::int AS deleted FROM d`,
      [before],
    );
    return Number(rows[0]?.deleted ?? 0);
  }
}

const COLUMNS = `tx_id, participants, done, decision, owner, completed_at IS NOT NULL AS completed,
  (extract(epoch FROM begun_at) * 1000)::float8 AS begun_at_ms,
  (extract(epoch FROM now() - begun_at) * 1000)::float8 AS age_ms`;

function recordOf(row: Row): TwoPhaseRecord {
  const record: TwoPhaseRecord = {
    txId: row.tx_id,
    participants: row.participants,
    done: row.done,
    completed: row.completed,
    begunAt: Math.round(Number(row.begun_at_ms)),
    ageMs: Math.max(0, Number(row.age_ms)),
  };
  if (row.decision !== null) record.decision = row.decision;
  if (row.owner !== null) record.owner = row.owner;
  return record;
}
