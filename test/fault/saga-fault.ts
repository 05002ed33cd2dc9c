import type { Pool } from 'pg';
import {
  ProjectionEngine,
  SagaReadModelProjection,
  SAGA_READ_MODEL_PROJECTION,
  type SagaState,
} from 'potter';
import {
  migrateEventStore,
  PgSqlClient,
  SqlEventStore,
  SqlProjectionStore,
  SqlSagaViews,
} from 'potter/postgres';
import { postgresUrl } from '../support/services';
import { type ProcessWorker } from './support/messaging-fault';

/**
 * Support of the saga fault tests: the participant tables the worker processes
 * (test/fault/support/saga-worker.js, running the compiled package) write to, what each saga is
 * meant to do, and the checks of the outcome.
 */

export const STEPS = ['reserve', 'charge', 'notify', 'ship'] as const;
export type Step = (typeof STEPS)[number];
const PARALLEL: readonly Step[] = ['charge', 'notify'];
const SETTLED = ['completed', 'failed', 'compensated', 'compensation_failed', 'cancelled', 'resolved'];

/** What saga number `i` does (the worker's `inputOf`). */
export function inputOf(i: number): { fail?: 'ship' | 'charge' } {
  const d = i % 10;
  return d === 0 || d === 3 || d === 6 ? { fail: 'ship' } : d === 9 ? { fail: 'charge' } : {};
}

export const sagaIdOf = (i: number): string => `saga-${String(i).padStart(4, '0')}`;

/** The store's tables (`migrateEventStore`) and the participant's tables, in `schema`. */
export async function createSagaSchema(pool: Pool, schema: string): Promise<void> {
  const client = new PgSqlClient({ pool });
  await migrateEventStore(client, { schema });
  await pool.query(`
    CREATE TABLE "${schema}".fault_effects (
      key text PRIMARY KEY, kind text NOT NULL, saga_id text NOT NULL, step text NOT NULL,
      attempt integer NOT NULL, instance text NOT NULL, seq bigserial NOT NULL);
    CREATE TABLE "${schema}".fault_attempts (
      id bigserial PRIMARY KEY, key text NOT NULL, kind text NOT NULL, saga_id text NOT NULL,
      step text NOT NULL, attempt integer NOT NULL, instance text NOT NULL, phase text NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE INDEX ON "${schema}".fault_attempts (instance, phase);`);
}

/** The environment of a worker process. */
export function workerEnv(
  schema: string,
  instance: string,
  options: { leaseMs: number; start?: [number, number] },
): Record<string, string> {
  return {
    POTTER_POSTGRES_URL: postgresUrl(),
    FAULT_SCHEMA: schema,
    FAULT_INSTANCE: instance,
    FAULT_LEASE_MS: String(options.leaseMs),
    ...(options.start ? { FAULT_START: `${options.start[0]}:${options.start[1]}` } : {}),
  };
}

/** The database clock, in µs since the epoch. */
export async function dbNow(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ now: string }>(
    `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS now`,
  );
  return Number(rows[0]!.now);
}

/** How many attempts `instance` began. */
export async function begunBy(pool: Pool, schema: string, instance: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".fault_attempts WHERE instance = $1 AND phase = 'begin'`,
    [instance],
  );
  return Number(rows[0]!.n);
}

/**
 * The attempts `instance` began and did not finish (no outcome logged by it), by kind; with
 * `withinMs`, only those begun at most that long ago.
 */
export async function inFlightOf(
  pool: Pool,
  schema: string,
  instance: string,
  withinMs?: number,
): Promise<{ execute: number; compensate: number }> {
  const { rows } = await pool.query<{ kind: string; n: string }>(
    `SELECT b.kind, count(*) AS n FROM "${schema}".fault_attempts b
      WHERE b.instance = $1 AND b.phase = 'begin'
        AND ($2::float8 IS NULL OR b.at > clock_timestamp() - $2::float8 * interval '1 millisecond')
        AND NOT EXISTS (SELECT FROM "${schema}".fault_attempts o
                         WHERE o.instance = b.instance AND o.key = b.key AND o.attempt = b.attempt
                           AND o.phase <> 'begin')
      GROUP BY b.kind`,
    [instance, withinMs ?? null],
  );
  const n = (kind: string): number => Number(rows.find((row) => row.kind === kind)?.n ?? 0);
  return { execute: n('execute'), compensate: n('compensate') };
}

/** How many unfinished sagas `instance` does not hold (0: it took over every one). */
export async function notHeldBy(pool: Pool, schema: string, instance: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".sagas
      WHERE status IN ('pending', 'running', 'compensating') AND owner IS DISTINCT FROM $1`,
    [instance],
  );
  return Number(rows[0]!.n);
}

/** How many unfinished sagas have a failing step and compensations to begin still (reserve's at least). */
export async function toCompensate(pool: Pool, schema: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".sagas
      WHERE status IN ('pending', 'running', 'compensating') AND state->'context'->>'fail' IS NOT NULL
        AND NOT (state->'compensatedSteps' ? 'reserve')`,
  );
  return Number(rows[0]!.n);
}

/** Sagas by status. */
export async function statuses(pool: Pool, schema: string): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ status: string; n: string }>(
    `SELECT status, count(*) AS n FROM "${schema}".sagas GROUP BY status ORDER BY status`,
  );
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
}

/** Whether all `count` sagas are settled. */
export async function allSettled(pool: Pool, schema: string, count: number): Promise<boolean> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".sagas WHERE status = ANY($1::text[])`,
    [SETTLED],
  );
  return Number(rows[0]!.n) >= count;
}

/**
 * Polls `probe` until it returns a value other than `undefined`/`false`; fails at once when a
 * worker of `alive` exits, and on timeout with what `explain` says.
 */
export async function until<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs: number,
  alive: readonly ProcessWorker[],
  explain: () => Promise<string> = async () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    const dead = alive.find((worker) => !worker.running);
    const details = async (): Promise<string> =>
      [await explain().catch((error: unknown) => String(error)), ...alive.map((w) => w.describe())].join(
        '\n',
      );
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}\n${await details()}`);
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}\n${await details()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface SagaRow {
  saga_id: string;
  status: string;
  state: { completedSteps: string[]; compensatedSteps: string[] };
}

interface EffectRow {
  key: string;
  kind: 'execute' | 'compensate';
  saga_id: string;
  step: Step;
  seq: string;
}

interface AttemptRow {
  key: string;
  kind: 'execute' | 'compensate';
  saga_id: string;
  step: Step;
  attempt: number;
  instance: string;
  phase: string;
  at: string;
}

/** What the raw attempt log says about the runs. */
export interface RunReport {
  statuses: Record<string, number>;
  /** Attempts begun ('begin' rows). */
  begun: number;
  /** (key, attempt) pairs begun more than once: attempts re-run after a kill. */
  rerunAttempts: { execute: number; compensate: number };
  /** Re-runs that found the effect applied already (deduplicated by the participant). */
  duplicates: { execute: number; compensate: number };
  /** Problems found (empty when every check passed). */
  problems: string[];
}

/**
 * Checks the outcome of sagas 0 … count - 1 against the participant's tables:
 * - each saga is `completed` (no failing step) or `compensated` (a failing step);
 * - a completed saga has the effect of each step exactly once, and no compensation;
 * - a compensated saga has exactly one compensation for every step whose effect happened, done in
 *   reverse order (the parallel branches in either order) and after every effect; the failing step
 *   has no effect and no compensation, and the steps after it neither; the branch beside a failing
 *   branch (cut short) may have no effect, in which case its compensation is allowed;
 * - the orchestrator's own record (`compensatedSteps`) agrees with the participant;
 * - each key's effect was applied by exactly one attempt (the others found it: 'duplicate'), and no
 *   process began the same attempt of a step twice (re-runs happen only on another instance).
 */
export async function checkSagas(pool: Pool, schema: string, count: number): Promise<RunReport> {
  const q = `"${schema}"`;
  const sagas = new Map(
    (await pool.query<SagaRow>(`SELECT saga_id, status, state FROM ${q}.sagas`)).rows.map((row) => [
      row.saga_id,
      row,
    ]),
  );
  const effects = (
    await pool.query<EffectRow>(`SELECT key, kind, saga_id, step, seq FROM ${q}.fault_effects`)
  ).rows;
  const attempts = (
    await pool.query<AttemptRow>(
      `SELECT key, kind, saga_id, step, attempt, instance, phase,
              (extract(epoch FROM at) * 1000000)::bigint::text AS at
         FROM ${q}.fault_attempts ORDER BY id`,
    )
  ).rows;
  const problems: string[] = [];
  const bySaga = new Map<string, { execute: Map<Step, number>; compensate: Map<Step, number> }>();
  for (const effect of effects) {
    const entry = bySaga.get(effect.saga_id) ?? { execute: new Map(), compensate: new Map() };
    const key = `${effect.saga_id}:${effect.step}${effect.kind === 'compensate' ? ':compensate' : ''}`;
    if (effect.key !== key)
      problems.push(`effect ${effect.key} of ${effect.kind} ${key}: not its idempotency key`);
    if (entry[effect.kind].has(effect.step)) problems.push(`${effect.kind} ${key} happened twice`);
    entry[effect.kind].set(effect.step, Number(effect.seq));
    bySaga.set(effect.saga_id, entry);
  }
  if (sagas.size !== count) problems.push(`${sagas.size} sagas stored, ${count} expected`);

  for (let i = 0; i < count; i++) {
    const sagaId = sagaIdOf(i);
    const saga = sagas.get(sagaId);
    const { fail } = inputOf(i);
    const say = (problem: string): void => void problems.push(`${sagaId} (fail: ${fail ?? '-'}): ${problem}`);
    if (saga === undefined) {
      say('not stored');
      continue;
    }
    const { execute, compensate } = bySaga.get(sagaId) ?? { execute: new Map(), compensate: new Map() };
    const done = (map: Map<Step, number>): string => [...map.keys()].sort().join(',');
    if (fail === undefined) {
      if (saga.status !== 'completed') say(`status ${saga.status}, expected completed`);
      for (const step of STEPS) if (!execute.has(step)) say(`no effect of ${step}`);
      if (compensate.size > 0) say(`compensated ${done(compensate)} although completed`);
      continue;
    }
    if (saga.status !== 'compensated') say(`status ${saga.status}, expected compensated`);
    if (execute.has(fail)) say(`the failing step ${fail} has an effect`);
    if (compensate.has(fail)) say(`the failing step ${fail} was compensated`);
    if (fail === 'charge') {
      if (execute.has('ship') || compensate.has('ship')) say('ship ran after the failing charge');
      if (!execute.has('reserve')) say('no effect of reserve');
    } else {
      for (const step of ['reserve', 'charge', 'notify'] as const)
        if (!execute.has(step)) say(`no effect of ${step}`);
    }
    // Every effect undone exactly once (the key is unique); an undo without effect only for the
    // branch cut short beside a failing branch.
    for (const step of execute.keys())
      if (!compensate.has(step)) say(`${step} has an effect but no compensation`);
    for (const step of compensate.keys()) {
      if (!execute.has(step) && !(fail === 'charge' && step === 'notify'))
        say(`${step} compensated without an effect`);
    }
    // Compensations after every effect, in reverse order (either order within the parallel group).
    const lastEffect = Math.max(...execute.values());
    for (const [step, seq] of compensate) {
      if (seq < lastEffect)
        say(`compensation of ${step} (seq ${seq}) before the last effect (seq ${lastEffect})`);
    }
    for (const [a, seqA] of compensate) {
      for (const [b, seqB] of compensate) {
        const before = STEPS.indexOf(a) < STEPS.indexOf(b);
        const sameGroup = PARALLEL.includes(a) && PARALLEL.includes(b);
        if (before && !sameGroup && seqA < seqB)
          say(`${a} (seq ${seqA}) compensated before ${b} (seq ${seqB})`);
      }
    }
    const recorded = [...saga.state.compensatedSteps].sort().join(',');
    if (recorded !== done(compensate))
      say(`the orchestrator recorded compensated ${recorded}, the participant ${done(compensate)}`);
  }

  // The raw log: one applying attempt per key; no attempt begun twice by one process.
  const applied = new Map<string, number>();
  const begins = new Map<string, string[]>();
  let begun = 0;
  const rerun = { execute: 0, compensate: 0 };
  const duplicates = { execute: 0, compensate: 0 };
  for (const row of attempts) {
    if (row.phase === 'applied') applied.set(row.key, (applied.get(row.key) ?? 0) + 1);
    if (row.phase === 'duplicate') duplicates[row.kind]++;
    if (row.phase === 'begin') {
      begun++;
      const id = `${row.key}#${row.attempt}`;
      const by = begins.get(id) ?? [];
      if (by.length === 1) rerun[row.kind]++;
      if (by.includes(row.instance)) problems.push(`${id} begun twice by ${row.instance}`);
      by.push(row.instance);
      begins.set(id, by);
    }
  }
  for (const effect of effects) {
    if (applied.get(effect.key) !== 1)
      problems.push(`${effect.key} applied ${applied.get(effect.key) ?? 0} times`);
  }
  if (applied.size !== effects.length)
    problems.push(`${applied.size} keys applied, ${effects.length} effects`);

  return {
    statuses: await statuses(pool, schema),
    begun,
    rerunAttempts: rerun,
    duplicates,
    problems,
  };
}

/** The 'begin' rows of `instance` (µs, database clock) for the sagas `sagaIds`. */
export async function beginsOn(
  pool: Pool,
  schema: string,
  instance: string,
  sagaIds: readonly string[],
): Promise<number[]> {
  const { rows } = await pool.query<{ at: string }>(
    `SELECT (extract(epoch FROM at) * 1000000)::bigint::text AS at FROM "${schema}".fault_attempts
      WHERE instance = $1 AND phase = 'begin' AND saga_id = ANY($2::text[])`,
    [instance, [...sagaIds]],
  );
  return rows.map((row) => Number(row.at));
}

/**
 * Projects the saga events recorded by the workers into the saga read model (a fresh
 * `potter.sagas` projection on PostgreSQL) and compares every saga's view with its stored state:
 * the read model must show exactly the state of the last saved transition, whatever the crashes.
 * Returns the differences (empty when all match).
 */
export async function checkReadModel(pool: Pool, schema: string): Promise<string[]> {
  const client = new PgSqlClient({ pool });
  const eventStore = new SqlEventStore(client, { schema, notify: false });
  const views = new SqlSagaViews(client, { schema });
  const engine = new ProjectionEngine({ eventStore, store: SqlProjectionStore.for(eventStore) });
  engine.register(new SagaReadModelProjection(views));
  engine.start();
  try {
    await engine.waitUntilCaughtUp(SAGA_READ_MODEL_PROJECTION, { timeoutMs: 60_000 });
  } finally {
    await engine.stop();
    await eventStore.close(); // its LISTEN connection (the client and the pool stay open)
  }
  const { rows } = await pool.query<{ state: SagaState }>(
    `SELECT state FROM "${schema}".sagas ORDER BY saga_id`,
  );
  const problems: string[] = [];
  for (const { state } of rows) {
    const view = await views.get(state.sagaId);
    const history = await views.history(state.sagaId);
    // The state's completedSteps also lists steps whose outcome was uncertain (a parallel branch
    // aborted, an attempt timed out) so that they are compensated; the view lists the steps that
    // completed, and shows the others as failed and then compensated.
    const uncertain = state.completedSteps.filter((step) => !view?.completedSteps.includes(step));
    const expected = {
      status: state.status,
      correlationId: state.correlationId,
      startedAt: state.startedAt,
      completedSteps: state.completedSteps.filter((step) => !uncertain.includes(step)),
      compensatedSteps: state.compensatedSteps,
      attempts: state.attempts,
      compensationAttempts: state.compensationAttempts,
    };
    const actual = view && {
      status: view.status,
      correlationId: view.correlationId,
      startedAt: view.startedAt,
      completedSteps: view.completedSteps,
      compensatedSteps: view.compensatedSteps,
      attempts: view.attempts,
      compensationAttempts: view.compensationAttempts,
    };
    const notCompleted = uncertain.filter(
      (step) =>
        !['compensated', 'compensating', 'compensation_failed'].includes(view?.steps[step]?.status ?? ''),
    );
    if (notCompleted.length > 0) {
      problems.push(`${state.sagaId}: ${notCompleted.join(', ')} to undo in the state, not in the view`);
    }
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      problems.push(`${state.sagaId}: view ${JSON.stringify(actual)} != state ${JSON.stringify(expected)}`);
    }
    if (history.some((entry, i) => entry.seq !== i + 1) || history.at(-1)?.status !== state.status) {
      problems.push(
        `${state.sagaId}: history ${JSON.stringify(history.map((e) => [e.seq, e.type, e.status]))}`,
      );
    }
  }
  return problems;
}
