import type { Pool } from 'pg';
import { migrateEventStore, PgSqlClient, SqlCoordinatorLog } from 'potter/postgres';
import { postgresUrl, redisUrl } from '../../support/services';
import { type ProcessWorker } from '../support/messaging-fault';

/**
 * Support of the 2PC fault tests: the schema (coordinator log + each participant's tables), the
 * worker processes (test/fault/twopc/support/*-worker.js, running the compiled package), and
 * readers of the participants' durable state.
 */

export const COORDINATOR = '../twopc/support/coordinator-worker.js';
export const PARTICIPANT = '../twopc/support/participant-worker.js';

/**
 * Participant `name`'s tables (support/pg-participant.js writes them) and the shared violations
 * table: holds (tx_id, state 'prepared' | 'committed' | 'rolled_back'), committed (the effect, once
 * per tx), violations (contract breaches seen by a participant).
 */
function participantDdl(schema: string, name: string): string {
  return `
    CREATE TABLE IF NOT EXISTS "${schema}".twopc_${name}_holds (
      tx_id text PRIMARY KEY, state text NOT NULL, payload jsonb,
      at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE TABLE IF NOT EXISTS "${schema}".twopc_${name}_committed (
      tx_id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE TABLE IF NOT EXISTS "${schema}".twopc_violations (
      id bigserial PRIMARY KEY, participant text NOT NULL, tx_id text NOT NULL, what text NOT NULL);`;
}

/** The coordinator log's table (`migrateEventStore`) and the participants' tables, in `schema`. */
export async function createTwoPhaseSchema(
  pool: Pool,
  schema: string,
  participants: string[],
): Promise<void> {
  await migrateEventStore(new PgSqlClient({ pool }), { schema });
  for (const name of participants) await pool.query(participantDdl(schema, name));
}

/** A transaction of a coordinator worker's FAULT_TXS. */
export interface FaultTx {
  txId: string;
  fail?: string[];
  pause?: 'before-decide' | 'after-decide' | 'gate-after-decide';
}

/** The environment of a coordinator worker. */
export function coordinatorEnv(
  schema: string,
  owner: string,
  options: {
    local: string[];
    remote?: string[];
    topicPrefix?: string;
    txs?: FaultTx[];
    recover?: boolean;
    concurrency?: number;
    leaseMs?: number;
    prepareMs?: number;
    /** Random sleep of the local participants before each call, ms. */
    participantMs?: [number, number];
  },
): Record<string, string> {
  return {
    POTTER_POSTGRES_URL: postgresUrl(),
    POTTER_REDIS_URL: redisUrl(),
    FAULT_SCHEMA: schema,
    FAULT_OWNER: owner,
    FAULT_LOCAL: options.local.join(','),
    FAULT_REMOTE: (options.remote ?? []).join(','),
    FAULT_TOPIC_PREFIX: options.topicPrefix ?? '',
    FAULT_TXS: JSON.stringify(options.txs ?? []),
    FAULT_RECOVER: options.recover ? '1' : '0',
    FAULT_CONCURRENCY: String(options.concurrency ?? 1),
    FAULT_LEASE_MS: String(options.leaseMs ?? 1500),
    FAULT_PREPARE_MS: String(options.prepareMs ?? 1000),
    FAULT_PARTICIPANT_MS: (options.participantMs ?? [0, 0]).join(':'),
  };
}

/** The environment of a participant worker serving `name` over Redis. */
export function participantEnv(schema: string, name: string, topicPrefix: string): Record<string, string> {
  return {
    POTTER_POSTGRES_URL: postgresUrl(),
    POTTER_REDIS_URL: redisUrl(),
    FAULT_SCHEMA: schema,
    FAULT_NAME: name,
    FAULT_TOPIC_PREFIX: topicPrefix,
  };
}

/** Participant `name`'s holds: txId → 'prepared' | 'committed' | 'rolled_back'. */
export async function holdsOf(pool: Pool, schema: string, name: string): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ tx_id: string; state: string }>(
    `SELECT tx_id, state FROM "${schema}".twopc_${name}_holds`,
  );
  return new Map(rows.map((row) => [row.tx_id, row.state]));
}

/** The transactions participant `name` committed (its effect table), sorted. */
export async function committedOf(pool: Pool, schema: string, name: string): Promise<string[]> {
  const { rows } = await pool.query<{ tx_id: string }>(
    `SELECT tx_id FROM "${schema}".twopc_${name}_committed ORDER BY tx_id`,
  );
  return rows.map((row) => row.tx_id);
}

/** Contract breaches the participants recorded (must be none). */
export async function violationsIn(pool: Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query<{ participant: string; tx_id: string; what: string }>(
    `SELECT participant, tx_id, what FROM "${schema}".twopc_violations ORDER BY id`,
  );
  return rows.map((row) => `${row.participant} ${row.tx_id}: ${row.what}`);
}

/** The coordinator log of `schema`. */
export function logOf(pool: Pool, schema: string): SqlCoordinatorLog {
  return new SqlCoordinatorLog(new PgSqlClient({ pool }), { schema });
}

/**
 * Every participant's view of `txId`: the hold states and whether the effect was written — for
 * checking atomicity (all committed with one effect each, or all rolled back with none).
 */
export async function txStates(
  pool: Pool,
  schema: string,
  participants: string[],
  txId: string,
): Promise<{ holds: (string | undefined)[]; committed: boolean[] }> {
  const holds: (string | undefined)[] = [];
  const committed: boolean[] = [];
  for (const name of participants) {
    holds.push((await holdsOf(pool, schema, name)).get(txId));
    committed.push((await committedOf(pool, schema, name)).includes(txId));
  }
  return { holds, committed };
}

/** Waits for the process to print a line matching `check`; fails at its exit or after `timeoutMs`. */
export async function lineOf(
  worker: ProcessWorker,
  check: (line: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  await worker.until(() => worker.lines.some(check), what, timeoutMs);
  return worker.lines.find(check)!;
}

/** Polls `probe` until it holds (conditions, never fixed sleeps as proof). */
export async function until(
  probe: () => Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  explain: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
