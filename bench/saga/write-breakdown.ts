/**
 * Diagnostic, not part of the recorded benchmark: where does the PostgreSQL time of a saga go,
 * compared with the baseline's three INSERTs? One process; each variant on its own `pg.Pool`
 * (same size), a new pool per run (so its server processes' statistics are flushed when it ends),
 * variants in interleaved rounds, 1 and 32 sagas in flight:
 *
 * - `raw`          (c): the steps, one unnamed `INSERT` of the context per step (3 writes)
 * - `raw-named`    the same `INSERT` as a prepared (named) statement
 * - `store`        `SqlSagaStore` written as the orchestrator writes it: `create` (pending), a `save`
 *                  of the whole state after every transition (running; each step started, then
 *                  completed; completed) — 9 writes
 * - `store-named`  the same, every statement of the store prepared (a client that names them)
 * - `store-ff50`   the same on a `sagas` table with `fillfactor = 50` (room for HOT updates)
 * - `store-4`      the same store, but 4 writes per saga: `create` already running with the first
 *                  step started, then one `save` per step that records its completion together with
 *                  the next step's start (the last one: `completed`) — the write count if the
 *                  orchestrator saved consecutive transitions together
 * - `store-4-named` both: 4 writes, prepared
 * - `orchestrator` (b): `SagaOrchestrator` over `SqlSagaStore`, for reference
 * - `orchestrator-named` the same, every statement of the store prepared
 *
 * It reports sagas/s, writes per saga, the mean wall time of a write, the CPU time per write of the
 * server processes and per saga of this process, and the share of the `sagas` updates that were
 * HOT (no index touched).
 *
 *   node build/bench/saga/write-breakdown.js
 *   DIAG_ONLY=store,store-4 DIAG_CONCURRENCY=32 node build/bench/saga/write-breakdown.js
 */
import { createHash } from 'node:crypto';
import { Client, Pool } from 'pg';
import { lockBenchRun } from '../eventstore/worker-runtime';
import {
  PgSqlClient,
  SagaOrchestrator,
  SqlSagaStore,
  migrateEventStore,
  newId,
  silentLogger,
  type SagaLease,
  type SagaState,
} from './potter-saga';
import { CpuMeter, MeteredSagaStore, WriteMeter, drive } from './runtime';
import { STEPS, checkFinished, makeOrder, orderSaga, type OrderContext } from './workload';

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const CONNECTION_STRING =
  process.env['POTTER_POSTGRES_URL'] || 'postgres://potter:potter@127.0.0.1:5432/potter';
const SCHEMA = 'bench_saga_diag';
/** The same tables, `sagas` with `fillfactor = 50`. */
const SCHEMA_FF = 'bench_saga_diag_ff';
const ROUNDS = intFromEnv('DIAG_ROUNDS', 3);
const TIME_MS = intFromEnv('DIAG_TIME_MS', 3000);
const POOL_SIZE = intFromEnv('DIAG_POOL_SIZE', 10);
const CONCURRENCY = (process.env['DIAG_CONCURRENCY'] || '1,32').split(',').map(Number);
const ALL = [
  'raw',
  'raw-named',
  'store',
  'store-named',
  'store-ff50',
  'store-4',
  'store-4-named',
  'orchestrator',
  'orchestrator-named',
] as const;
type VariantId = (typeof ALL)[number];
const ONLY = (process.env['DIAG_ONLY'] ?? '').split(',').filter((id) => id !== '');
const VARIANTS: VariantId[] = ALL.filter((id) => ONLY.length === 0 || ONLY.includes(id));

/** A client that prepares every statement (named by a hash of its text). */
class NamingClient extends PgSqlClient {
  override query<R extends object = Record<string, unknown>>(text: string, params: readonly unknown[] = []) {
    const name = `saga_diag_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    return super.query<R>(text, params, { name });
  }
}

type MutableState = { -readonly [K in keyof SagaState<OrderContext>]: SagaState<OrderContext>[K] } & {
  completedSteps: string[];
  attempts: Record<string, number>;
};

function newState(n: number): MutableState {
  const now = Date.now();
  const sagaId = newId();
  return {
    sagaId,
    sagaName: 'bench-order',
    correlationId: sagaId,
    status: 'pending',
    context: makeOrder(n),
    completedSteps: [],
    skippedSteps: [],
    compensatedSteps: [],
    attempts: {},
    compensationAttempts: {},
    startedAt: now,
    updatedAt: now,
    version: 1,
  };
}

/** The orchestrator's 9 writes of a 3-step saga. */
async function everyTransition(store: MeteredSagaStore, lease: SagaLease, n: number): Promise<void> {
  const state = newState(n);
  await store.create(state, lease);
  const save = async (): Promise<void> => {
    state.version += 1;
    state.updatedAt = Date.now();
    await store.save(state, lease);
  };
  state.status = 'running';
  await save();
  for (const step of STEPS) {
    state.attempts[step.name] = 1;
    state.currentStep = step.name;
    await save();
    step.execute(state.context);
    state.completedSteps.push(step.name);
    await save();
  }
  delete state.currentStep;
  state.status = 'completed';
  await save();
  checkFinished('store', state.context);
}

/** 4 writes: each save records a step's completion with the next transition. */
async function coalesced(store: MeteredSagaStore, lease: SagaLease, n: number): Promise<void> {
  const state = newState(n);
  state.status = 'running';
  for (const [i, step] of STEPS.entries()) {
    state.attempts[step.name] = 1;
    state.currentStep = step.name;
    if (i === 0) await store.create(state, lease);
    else {
      state.version += 1;
      state.updatedAt = Date.now();
      await store.save(state, lease);
    }
    step.execute(state.context);
    state.completedSteps.push(step.name);
  }
  delete state.currentStep;
  state.status = 'completed';
  state.version += 1;
  state.updatedAt = Date.now();
  await store.save(state, lease);
  checkFinished('store-4', state.context);
}

interface Measured {
  sagas: number;
  elapsedMs: number;
  writes: number;
  writeMs: number;
  nodeCpuMs: number;
  pgCpuMs: number | null;
  /** HOT updates / updates of `sagas` during the run (null: no update). */
  hot: number | null;
}

async function updateStats(admin: Client, schema: string): Promise<{ upd: number; hot: number }> {
  const { rows } = await admin.query<{ upd: string; hot: string }>(
    `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables
      WHERE schemaname = $1 AND relname = 'sagas'`,
    [schema],
  );
  return { upd: Number(rows[0]?.upd ?? 0), hot: Number(rows[0]?.hot ?? 0) };
}

async function runVariant(
  id: VariantId,
  admin: Client,
  concurrency: number,
  numbering: { next: number },
): Promise<Measured> {
  const schema = id === 'store-ff50' ? SCHEMA_FF : SCHEMA;
  const applicationName = `potter_saga_diag_${id.replaceAll('-', '_')}`;
  const url = new URL(CONNECTION_STRING);
  url.searchParams.set('application_name', applicationName);
  const pool = new Pool({ connectionString: url.toString(), max: POOL_SIZE });
  pool.on('error', () => undefined);
  const client = id.endsWith('-named') ? new NamingClient({ pool }) : new PgSqlClient({ pool });
  const meter = new WriteMeter();
  const store = new MeteredSagaStore(new SqlSagaStore(client, { schema }), meter);
  const lease: SagaLease = { owner: newId(), leaseMs: 30_000 };
  const insert = `INSERT INTO "${SCHEMA}".saga_steps (saga_id, step, context) VALUES ($1, $2, $3::jsonb)`;
  const orchestrator = new SagaOrchestrator({ store, logger: silentLogger });
  const saga = orderSaga();
  const runOne = async (n: number): Promise<void> => {
    switch (id) {
      case 'raw':
      case 'raw-named': {
        const sagaId = newId();
        const context = makeOrder(n);
        for (const step of STEPS) {
          step.execute(context);
          const values = [sagaId, step.name, JSON.stringify(context)];
          await meter.time('insert', () =>
            id === 'raw'
              ? pool.query(insert, values)
              : pool.query({ name: 'saga_diag_raw', text: insert, values }),
          );
        }
        return;
      }
      case 'store':
      case 'store-named':
      case 'store-ff50':
        return everyTransition(store, lease, n);
      case 'store-4':
      case 'store-4-named':
        return coalesced(store, lease, n);
      case 'orchestrator':
      case 'orchestrator-named': {
        const state = await (await orchestrator.start(saga, makeOrder(n))).result;
        if (state.status !== 'completed') throw new Error(`saga ended ${state.status}`);
        return;
      }
    }
  };
  const cpu = new CpuMeter(CONNECTION_STRING, applicationName);
  await cpu.connect();
  try {
    await admin.query(`TRUNCATE "${SCHEMA}".saga_steps, "${SCHEMA}".sagas, "${SCHEMA_FF}".sagas`);
    // Untimed: every connection of the pool open, prepared statements, JIT.
    await drive(concurrency, 300, runOne, numbering);
    meter.reset();
    const statsBefore = await updateStats(admin, schema);
    const before = await cpu.sample();
    const { elapsedMs, latencies } = await drive(concurrency, TIME_MS, runOne, numbering);
    const used = await cpu.since(before);
    await orchestrator.stop();
    await pool.end(); // the server processes exit and flush their statistics
    await new Promise((resolve) => setTimeout(resolve, 200));
    const statsAfter = await updateStats(admin, schema);
    const updates = statsAfter.upd - statsBefore.upd;
    return {
      sagas: latencies.length,
      elapsedMs,
      writes: Object.values(meter.counts).reduce((sum, n) => sum + n, 0),
      writeMs: meter.ms,
      ...used,
      hot: updates > 0 ? (statsAfter.hot - statsBefore.hot) / updates : null,
    };
  } finally {
    await cpu.close();
    if (!pool.ended) await pool.end();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const admin = new Client({ connectionString: CONNECTION_STRING });
  await admin.connect();
  try {
    await lockBenchRun(admin);
    await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA_FF}" CASCADE`);
    const setup = new PgSqlClient({ connectionString: CONNECTION_STRING });
    try {
      await migrateEventStore(setup, { schema: SCHEMA });
      await migrateEventStore(setup, { schema: SCHEMA_FF });
    } finally {
      await setup.close();
    }
    await admin.query(`ALTER TABLE "${SCHEMA_FF}".sagas SET (fillfactor = 50)`);
    await admin.query(
      `CREATE TABLE "${SCHEMA}".saga_steps (saga_id text NOT NULL, step text NOT NULL, context jsonb NOT NULL,
         recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (saga_id, step))`,
    );
    const numbering = { next: 0 };
    const results = new Map<string, Measured[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const concurrency of CONCURRENCY) {
        const offset = round % VARIANTS.length;
        for (const id of [...VARIANTS.slice(offset), ...VARIANTS.slice(0, offset)]) {
          const m = await runVariant(id, admin, concurrency, numbering);
          const key = `${concurrency}\u0000${id}`;
          results.set(key, [...(results.get(key) ?? []), m]);
          process.stderr.write(
            `round ${round + 1} c${concurrency} ${id}: ${Math.round((m.sagas * 1000) / m.elapsedMs)} sagas/s\n`,
          );
        }
      }
    }
    const lines = [
      `| variant | in flight | sagas/s | vs raw | writes/saga | ms/write (caller) | PostgreSQL CPU µs/write | node CPU µs/saga | HOT updates |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const concurrency of CONCURRENCY) {
      const rate = (id: VariantId): number =>
        median((results.get(`${concurrency}\u0000${id}`) ?? []).map((m) => (m.sagas * 1000) / m.elapsedMs));
      for (const id of VARIANTS) {
        const list = results.get(`${concurrency}\u0000${id}`)!;
        const pg = list.every((m) => m.pgCpuMs !== null)
          ? median(list.map((m) => (m.pgCpuMs! * 1000) / m.writes)).toFixed(0)
          : '?';
        const hot = list.every((m) => m.hot !== null)
          ? `${Math.round(median(list.map((m) => m.hot!)) * 100)}%`
          : '—';
        lines.push(
          `| ${id} | ${concurrency} | ${Math.round(rate(id))} | ${VARIANTS.includes('raw') ? `${(rate(id) / rate('raw')).toFixed(3)}×` : '—'} | ${median(list.map((m) => m.writes / m.sagas)).toFixed(2)} | ${median(list.map((m) => m.writeMs / m.writes)).toFixed(3)} | ${pg} | ${median(list.map((m) => (m.nodeCpuMs * 1000) / m.sagas)).toFixed(0)} | ${hot} |`,
        );
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA_FF}" CASCADE`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
