/**
 * One variant of the saga benchmark in its own process (forked by `saga.bench.ts` with the variant
 * id as its argument); see `protocol.ts` for the variants. A run is `concurrency` loops, each
 * starting a saga and awaiting its end, then the next, for `durationMs`; the sagas still running
 * at the deadline are finished and counted. Every run starts from an empty table, uses a new
 * orchestrator, and is checked afterwards (every saga `completed` with its three steps' writes).
 */
import { performance } from 'node:perf_hooks';
import { Client, Pool } from 'pg';
import { packageVersion } from '../eventstore/worker-runtime';
import {
  MemorySagaStore,
  PgSqlClient,
  SagaOrchestrator,
  SqlEventStore,
  SqlSagaStore,
  newId,
  silentLogger,
  type SagaLease,
  type SagaState,
  type SagaStatus,
} from './potter-saga';
import {
  VARIANT_IDS,
  type ParentMessage,
  type VariantId,
  type WorkerConfig,
  type WorkerInfo,
  type WorkerMessage,
} from './protocol';
import { CpuMeter, MeteredSagaStore, WriteMeter, drive, percentile } from './runtime';
import { STEPS, checkFinished, makeOrder, orderSaga, type OrderContext } from './workload';

const gc = (globalThis as { gc?: () => void }).gc;

// ---------------------------------------------------------------------------------------------------
// Variants

/** One prepared run of a variant: its saga, and the checks once it is over. */
interface Runner {
  runOne(n: number): Promise<void>;
  /** Untimed: checks that `sagas` sagas completed (in the store or table too), and cleans up. */
  finish(sagas: number): Promise<void>;
}

interface Variant {
  info: Omit<WorkerInfo, 'variant' | 'setupMs' | 'recordJsonChars'>;
  meter: WriteMeter;
  /** Untimed: an empty table, a new orchestrator. */
  prepare(label: string): Promise<Runner>;
  /** The JSON of what the variant persisted last for a saga that finished (after a run). */
  sampleRecord(): Promise<string>;
  close(): Promise<void>;
}

const SAGA = orderSaga();
/** The statuses the orchestrator saves a 3-step saga in, in order (for the `store` variant). */
const COMPLETED: SagaStatus = 'completed';

/** The PostgreSQL side every PostgreSQL variant shares: the pool under test and a housekeeping client. */
async function postgres(
  config: WorkerConfig,
): Promise<{ pool: Pool; admin: Client; table: (name: string) => string }> {
  const pool = new Pool({ connectionString: config.systemConnectionString, max: config.poolSize });
  pool.on('error', () => undefined);
  const admin = new Client({ connectionString: config.connectionString });
  await admin.connect();
  return { pool, admin, table: (name) => `"${config.schema}".${name}` };
}

/** (c) the limit: the three steps called directly, one `INSERT` of the context per step. */
async function rawVariant(config: WorkerConfig): Promise<Variant> {
  const { pool, admin, table } = await postgres(config);
  const meter = new WriteMeter();
  const insert = `INSERT INTO ${table('saga_steps')} (saga_id, step, context) VALUES ($1, $2, $3::jsonb)`;
  return {
    meter,
    info: {
      libraries: [`pg ${packageVersion('pg')}`],
      notes: [
        `pg.Pool (max ${config.poolSize}); per saga: a new UUID v7, then for each step: execute(context), then`,
        `pool.query(unnamed) ${insert.replace(/\s+/g, ' ')} with JSON.stringify(context)`,
        'saga_steps: (saga_id text, step text, context jsonb, recorded_at timestamptz default now(), PRIMARY KEY (saga_id, step))',
      ],
    },
    async prepare(label) {
      await admin.query(`TRUNCATE ${table('saga_steps')}`);
      return {
        async runOne(n) {
          const sagaId = newId();
          const context = makeOrder(n);
          for (const step of STEPS) {
            step.execute(context);
            await meter.time('insert', () =>
              pool.query(insert, [sagaId, step.name, JSON.stringify(context)]),
            );
          }
        },
        async finish(sagas) {
          const { rows } = await admin.query<{ rows: string; sagas: string; finished: string }>(
            `SELECT count(*) AS rows, count(DISTINCT saga_id) AS sagas,
                    count(*) FILTER (WHERE step = 'ship' AND context->>'shipmentId' IS NOT NULL) AS finished
               FROM ${table('saga_steps')}`,
          );
          const row = rows[0]!;
          if (Number(row.rows) !== 3 * sagas || Number(row.sagas) !== sagas || Number(row.finished) !== sagas)
            throw new Error(`${label}: ${JSON.stringify(row)} in saga_steps after ${sagas} sagas`);
        },
      };
    },
    async sampleRecord() {
      const { rows } = await admin.query<{ context: string }>(
        `SELECT context::text AS context FROM ${table('saga_steps')} WHERE step = 'ship' LIMIT 1`,
      );
      return rows[0]?.context ?? '';
    },
    async close() {
      await pool.end();
      await admin.end();
    },
  };
}

/** (a) and (b): `SagaOrchestrator` over `MemorySagaStore` or `SqlSagaStore`. */
async function orchestratorVariant(
  variant: 'memory' | 'sql' | 'events',
  config: WorkerConfig,
): Promise<Variant> {
  const pg = variant !== 'memory' ? await postgres(config) : undefined;
  const client = pg === undefined ? undefined : new PgSqlClient({ pool: pg.pool });
  const meter = new WriteMeter();
  let last: SagaState | undefined;
  return {
    meter,
    info: {
      libraries: [
        `potter ${packageVersion('potter')} (this checkout's src/saga, compiled with the benchmark)`,
        ...(pg === undefined ? [] : [`pg ${packageVersion('pg')}`]),
      ],
      notes: [
        variant === 'memory'
          ? 'new SagaOrchestrator({ store: new MemorySagaStore(), logger: silentLogger }) per run'
          : variant === 'sql'
            ? `new SagaOrchestrator({ store: new SqlSagaStore(new PgSqlClient({ pool }), { schema }), logger: silentLogger }) per run; pg.Pool (max ${config.poolSize})`
            : `new SagaOrchestrator({ store: SqlSagaStore.for(new SqlEventStore(new PgSqlClient({ pool }), { schema })), logger: silentLogger }) per run: each write appends its saga events in the same transaction; pg.Pool (max ${config.poolSize})`,
        "defineSaga('bench-order'): 3 steps (reserve, charge, ship), each execute writes into the context, each has a compensate (not run); no retry, no timeout, no publisher",
        'per saga: const handle = await orchestrator.start(saga, order); await handle.result (checked: completed, 3 writes in the context)',
        'the store is wrapped to count and time its calls (two performance.now() per call)',
        'the orchestrator is not resumed (no claim loop); the lease heartbeat runs as usual (every leaseMs / 3 = 10 s)',
      ],
    },
    async prepare(label) {
      if (pg !== undefined) await pg.admin.query(`TRUNCATE ${pg.table('sagas')}`);
      if (pg !== undefined && variant === 'events') {
        await pg.admin.query(`TRUNCATE ${pg.table('events')}, ${pg.table('streams')}`);
      }
      const inner =
        client === undefined
          ? new MemorySagaStore()
          : variant === 'events'
            ? SqlSagaStore.for(new SqlEventStore(client, { schema: config.schema }))
            : new SqlSagaStore(client, { schema: config.schema });
      const orchestrator = new SagaOrchestrator({
        store: new MeteredSagaStore(inner, meter),
        logger: silentLogger,
      });
      return {
        async runOne(n) {
          const handle = await orchestrator.start(SAGA, makeOrder(n));
          const state = await handle.result;
          if (state.status !== COMPLETED)
            throw new Error(`${label}: saga ${state.sagaId} ended ${state.status}`);
          checkFinished(label, state.context);
          last = state;
        },
        async finish(sagas) {
          await orchestrator.stop();
          if (pg === undefined) {
            const completed = await inner.list([COMPLETED]);
            if (completed.length !== sagas || (await inner.list()).length !== 0)
              throw new Error(`${label}: ${completed.length} completed sagas in the store after ${sagas}`);
            return;
          }
          await checkSagasTable(label, pg.admin, pg.table('sagas'), sagas);
          if (variant === 'events') {
            // 8 saga events per 3-step saga (started, 3 × step started/completed, completed).
            const { rows } = await pg.admin.query<{ n: string }>(
              `SELECT count(*) AS n FROM ${pg.table('events')} WHERE stream_id LIKE 'potter.saga-%'`,
            );
            if (Number(rows[0]?.n) !== sagas * 8)
              throw new Error(
                `${label}: ${rows[0]?.n} saga events recorded for ${sagas} sagas (expected 8 each)`,
              );
          }
        },
      };
    },
    async sampleRecord() {
      return JSON.stringify(last ?? null);
    },
    async close() {
      await client?.close();
      await pg?.pool.end();
      await pg?.admin.end();
    },
  };
}

async function checkSagasTable(label: string, admin: Client, table: string, sagas: number): Promise<void> {
  const { rows } = await admin.query<{ rows: string; finished: string }>(
    `SELECT count(*) AS rows,
            count(*) FILTER (WHERE status = 'completed' AND version = 5 AND owner IS NULL
                               AND state->'context'->>'shipmentId' IS NOT NULL) AS finished
       FROM ${table}`,
  );
  const row = rows[0]!;
  if (Number(row.rows) !== sagas || Number(row.finished) !== sagas)
    throw new Error(`${label}: ${JSON.stringify(row)} in sagas after ${sagas} sagas`);
}

/**
 * Diagnostic: `SqlSagaStore` alone, written the way the orchestrator writes a 3-step saga — a
 * `create` (running), a `save` before each step (its start, with the previous step's completion)
 * and one at the end (the last completion with `completed`), each with the whole state — the steps
 * called directly in between. No orchestrator
 * (no FSM, abort signals, snapshots by `structuredClone`, promise chain).
 */
async function storeVariant(config: WorkerConfig): Promise<Variant> {
  const pg = await postgres(config);
  const client = new PgSqlClient({ pool: pg.pool });
  const meter = new WriteMeter();
  const store = new MeteredSagaStore(new SqlSagaStore(client, { schema: config.schema }), meter);
  const lease: SagaLease = { owner: newId(), leaseMs: 30_000 };
  let last: SagaState | undefined;
  return {
    meter,
    info: {
      libraries: [
        `potter ${packageVersion('potter')} (this checkout's SqlSagaStore)`,
        `pg ${packageVersion('pg')}`,
      ],
      notes: [
        `new SqlSagaStore(new PgSqlClient({ pool }), { schema }); pg.Pool (max ${config.poolSize})`,
        'per saga: create(running), for each step: save(step started, previous one completed), execute(context); save(last step completed, completed) — 5 writes, the state the orchestrator would save',
      ],
    },
    async prepare(label) {
      await pg.admin.query(`TRUNCATE ${pg.table('sagas')}`);
      return {
        async runOne(n) {
          const now = Date.now();
          const sagaId = newId();
          const state: { -readonly [K in keyof SagaState<OrderContext>]: SagaState<OrderContext>[K] } & {
            completedSteps: string[];
            attempts: Record<string, number>;
          } = {
            sagaId,
            sagaName: SAGA.name,
            correlationId: sagaId,
            status: 'running',
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
          await store.create(state, lease);
          const save = async (): Promise<void> => {
            state.version += 1;
            state.updatedAt = Date.now();
            await store.save(state, lease);
          };
          for (const step of STEPS) {
            state.attempts[step.name] = 1;
            state.currentStep = step.name;
            await save();
            step.execute(state.context);
            state.completedSteps.push(step.name);
          }
          delete state.currentStep;
          state.status = COMPLETED;
          await save();
          checkFinished(label, state.context);
          last = state;
        },
        finish: (sagas) => checkSagasTable(label, pg.admin, pg.table('sagas'), sagas),
      };
    },
    async sampleRecord() {
      return JSON.stringify(last ?? null);
    },
    async close() {
      await client.close();
      await pg.pool.end();
      await pg.admin.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------------

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new Error('this file runs as a worker of saga.bench.js (forked with an IPC channel)'));
      return;
    }
    process.send(message, undefined, {}, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

function main(): void {
  const id = process.argv[2] as VariantId;
  if (!VARIANT_IDS.includes(id)) throw new Error(`unknown variant "${String(id)}"`);
  let variant: Variant | undefined;
  let cpu: CpuMeter | undefined;
  const numbering = { next: 0 };

  const handle = async (message: ParentMessage): Promise<WorkerMessage> => {
    switch (message.kind) {
      case 'setup': {
        const started = performance.now();
        const config = message.config;
        cpu = new CpuMeter(config.connectionString, config.applicationName);
        await cpu.connect();
        variant =
          id === 'raw'
            ? await rawVariant(config)
            : id === 'store'
              ? await storeVariant(config)
              : await orchestratorVariant(id, config);
        // Untimed: JIT, connections, the tables' pages.
        const runner = await variant.prepare(`${id} warmup`);
        const warmup = await drive(
          config.warmupConcurrency,
          config.warmupMs,
          (n) => runner.runOne(n),
          numbering,
        );
        const recordJsonChars = (await variant.sampleRecord()).length;
        await runner.finish(warmup.latencies.length);
        return {
          kind: 'ready',
          info: { ...variant.info, variant: id, setupMs: performance.now() - started, recordJsonChars },
        };
      }
      case 'run': {
        if (!variant || !cpu) throw new Error('run before setup');
        const label = `${id} c${message.concurrency} r${message.round}`;
        const runner = await variant.prepare(label);
        variant.meter.reset();
        gc?.();
        const heapBefore = process.memoryUsage().heapUsed;
        const before = await cpu.sample();
        const { elapsedMs, latencies } = await drive(
          message.concurrency,
          message.durationMs,
          (n) => runner.runOne(n),
          numbering,
        );
        const used = await cpu.since(before);
        // What the run left reachable (the in-memory store's rows and its log of saves), after a gc.
        gc?.();
        const heapRetainedBytes = gc === undefined ? null : process.memoryUsage().heapUsed - heapBefore;
        const writes = { ...variant.meter.counts };
        const writeMs = variant.meter.ms;
        const writeMsByKind = { ...variant.meter.msByKind };
        await runner.finish(latencies.length);
        const sorted = [...latencies].sort((a, b) => a - b);
        return {
          kind: 'result',
          result: {
            variant: id,
            concurrency: message.concurrency,
            round: message.round,
            elapsedMs,
            sagas: latencies.length,
            latencyMs: {
              mean: latencies.reduce((sum, x) => sum + x, 0) / Math.max(1, latencies.length),
              p50: percentile(sorted, 50),
              p99: percentile(sorted, 99),
            },
            writes,
            writeMs,
            writeMsByKind,
            ...used,
            heapRetainedBytes,
          },
        };
      }
      case 'teardown':
        await variant?.close();
        await cpu?.close();
        return { kind: 'done' };
    }
  };

  let queue = Promise.resolve();
  process.on('message', (message: ParentMessage) => {
    queue = queue
      .then(() => handle(message))
      .then(
        (reply) => send(reply),
        (error: unknown) =>
          send({
            kind: 'error',
            message: error instanceof Error ? error.message : String(error),
            stack: error instanceof Error ? error.stack : undefined,
          }),
      )
      .then(() => {
        if (message.kind === 'teardown') process.disconnect();
      });
  });
}

main();
