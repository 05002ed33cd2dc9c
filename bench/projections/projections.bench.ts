/**
 * Projection catch-up throughput on PostgreSQL, side by side in one run over the same 100,000
 * stored events: a plain `pg` keyset SELECT loop in the same batch size (the limit), Potter's
 * `ProjectionEngine` into an in-memory read model (`MemoryProjectionStore` +
 * `MemoryReadModelStore`), and into a PostgreSQL read model with same-transaction checkpoints
 * (`SqlProjectionStore` + `SqlReadModelStore`). Run with `node build/bench/projections/projections.bench.js`
 * after `npm run build`; see bench/RESULTS.md.
 *
 * Method: the events are appended once per run (Potter's `appendToStream`, one call of 100 events
 * per order stream, 4 writers) into a fresh schema, then vacuumed and analyzed. Each variant runs
 * in its own worker process (`catchup.worker.ts`), after an untimed warmup pass over the first
 * 20,000 events. The orchestrator runs ROUNDS rounds; in each, every batch size runs once per
 * variant, the order of the variants rotating. Every engine run uses a new projection name (empty
 * checkpoint, empty read model) and is checked against the expected read model. Medians over
 * rounds are reported, with same-round ratios.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type { NewEvent } from 'potter';
import { createPostgresEventStore } from 'potter/postgres';
import { dropSchema, lockBenchRun, packageVersion, resetSchema } from '../eventstore/worker-runtime';
import { PAYLOAD_JSON_CHARS } from '../eventstore/workload';
import {
  VARIANT_IDS,
  type ParentMessage,
  type RunResult,
  type VariantId,
  type WorkerConfig,
  type WorkerInfo,
  type WorkerMessage,
} from './protocol';
import { planSeed } from './workload';

// ---------------------------------------------------------------------------------------------------
// Configuration (environment overrides for quick runs: BENCH_EVENTS=20000 BENCH_ROUNDS=1 …)

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
  return value;
}

function listFromEnv(name: string, fallback: string): string[] {
  return (process.env[name] || fallback).split(',').filter((item) => item !== '');
}

const CONNECTION_STRING =
  process.env['POTTER_POSTGRES_URL'] || 'postgres://potter:potter@127.0.0.1:5432/potter';
const SCHEMA = 'bench_projections';
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 3);
const EVENTS = numberFromEnv('BENCH_EVENTS', 100_000);
const STREAMS = numberFromEnv('BENCH_STREAMS', 1_000);
const CUSTOMERS = numberFromEnv('BENCH_CUSTOMERS', 10_000);
const WARMUP_EVENTS = Math.min(EVENTS, numberFromEnv('BENCH_WARMUP_EVENTS', 20_000));
function batchSizesFromEnv(name: string, fallback: string): number[] {
  return listFromEnv(name, fallback).map((value) => {
    const size = Number(value);
    if (!Number.isInteger(size) || size < 1 || size > 10_000)
      throw new Error(`${name}: integers from 1 to 10000`);
    return size;
  });
}
/** Batch sizes of the raw and in-memory variants. */
const BATCH_SIZES = batchSizesFromEnv('BENCH_BATCH_SIZES', '500,1000');
/** Batch sizes of the PostgreSQL read model (about 20× slower: one size by default, to keep a run short). */
const SQL_BATCH_SIZES = batchSizesFromEnv('BENCH_SQL_BATCH_SIZES', '500');
/** The SQL variant warms up on fewer events (its time goes to round trips, not to the JIT). */
const SQL_WARMUP_EVENTS = Math.min(WARMUP_EVENTS, numberFromEnv('BENCH_SQL_WARMUP_EVENTS', 2_500));
const VARIANTS = ((): VariantId[] => {
  const ids = listFromEnv('BENCH_VARIANTS', VARIANT_IDS.join(','));
  for (const id of ids)
    if (!VARIANT_IDS.includes(id as VariantId))
      throw new Error(`BENCH_VARIANTS: unknown id "${id}" (known: ${VARIANT_IDS.join(', ')})`);
  return VARIANT_IDS.filter((id) => ids.includes(id));
})();
/** Concurrent writers while seeding. */
const SEED_WRITERS = 4;
/** The batch size the target is checked at. */
const TARGET_BATCH = 500;
/** Target: the in-memory read model catches up at least this fraction of the raw read rate. */
const TARGET_MEMORY_VS_RAW = 0.5;

if (EVENTS < 1 || STREAMS < 1 || CUSTOMERS < 1 || EVENTS % STREAMS !== 0)
  throw new Error(
    'BENCH_EVENTS must be a positive multiple of BENCH_STREAMS (and both, and BENCH_CUSTOMERS, > 0)',
  );

const DEFAULT_RUN =
  ROUNDS >= 3 &&
  EVENTS === 100_000 &&
  STREAMS === 1_000 &&
  CUSTOMERS === 10_000 &&
  VARIANTS.length === VARIANT_IDS.length &&
  BATCH_SIZES.includes(TARGET_BATCH) &&
  SQL_BATCH_SIZES.includes(TARGET_BATCH);
/** Every batch size measured, in order. */
const ALL_BATCH_SIZES = [...new Set([...BATCH_SIZES, ...SQL_BATCH_SIZES])].sort((a, b) => a - b);
const batchSizesOf = (variant: VariantId): number[] => (variant === 'sql' ? SQL_BATCH_SIZES : BATCH_SIZES);

const VARIANT_NAMES: Record<VariantId, string> = {
  raw: 'raw pg keyset SELECT + fold (limit)',
  memory: '(a) Potter engine → memory read model',
  sql: '(b) Potter engine → PostgreSQL read model, transactional',
};

/** bench/results/, from build/bench/projections/ where this file runs once compiled. */
const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'projections.json');

// ---------------------------------------------------------------------------------------------------
// Workers

class Worker {
  readonly #child: ChildProcess;
  #pending: { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void } | undefined;
  #exited: Error | undefined;

  constructor(readonly variant: VariantId) {
    this.#child = fork(join(__dirname, 'catchup.worker.js'), [variant], {
      execArgv: ['--expose-gc', ...process.execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message: WorkerMessage) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (!pending) return;
      if (message.kind === 'error') {
        const error = new Error(`${variant} worker: ${message.message}`);
        if (message.stack) error.stack = `${error.message}\n(worker stack) ${message.stack}`;
        pending.reject(error);
      } else pending.resolve(message);
    });
    this.#child.on('exit', (code, signal) => {
      this.#exited = new Error(`${variant} worker exited (code ${code}, signal ${signal})`);
      this.#pending?.reject(this.#exited);
      this.#pending = undefined;
    });
  }

  request<K extends WorkerMessage['kind']>(
    message: ParentMessage,
    expected: K,
  ): Promise<Extract<WorkerMessage, { kind: K }>> {
    if (this.#exited) return Promise.reject(this.#exited);
    if (this.#pending) return Promise.reject(new Error(`${this.variant} worker is busy`));
    return new Promise<WorkerMessage>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#child.send(message);
    }).then((reply) => {
      if (reply.kind !== expected)
        throw new Error(`${this.variant} worker answered ${reply.kind} to ${message.kind}`);
      return reply as Extract<WorkerMessage, { kind: K }>;
    });
  }

  /** Waits for the process to exit (after `teardown` it exits by itself), killing it after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    if (this.#exited !== undefined) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.#child.kill(), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------
// Seeding

/** Appends the run's events with Potter's store (one call per order stream, a few writers); ms. */
async function seed(): Promise<{ ms: number; eventsPerSecond: number }> {
  await resetSchema(CONNECTION_STRING, SCHEMA);
  const store = await createPostgresEventStore({
    connectionString: CONNECTION_STRING,
    schema: SCHEMA,
    notify: false,
  });
  try {
    const calls = planSeed(EVENTS, STREAMS, CUSTOMERS);
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: SEED_WRITERS }, async () => {
        while (next < calls.length) {
          const call = calls[next++]!;
          const events: NewEvent[] = call.events.map((event) => ({
            type: event.type,
            payload: event.payload,
            metadata: { correlationId: event.correlationId, causationId: event.causationId },
          }));
          await store.appendToStream(call.streamId, events, { expectedVersion: 'no_stream' });
        }
      }),
    );
    const ms = performance.now() - started;
    // Hint bits, visibility map and statistics settled before anything is timed.
    await store.client.query(`VACUUM (ANALYZE) "${SCHEMA}".events`);
    return { ms, eventsPerSecond: (EVENTS * 1000) / ms };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Statistics

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const eventsPerSecond = (r: RunResult): number => (r.events * 1000) / r.elapsedMs;

interface Ratio {
  /** Ratio of the medians. */
  ofMedians: number;
  /** Ratios within each round (cancel drift between rounds). */
  rounds: number[];
  pairedMedian: number;
}

/** Median ms per batch of each phase (engine variants); `other` = wall time per batch − the three. */
interface BatchSplit {
  batches: number;
  wallMs: number;
  readMs: number;
  handleMs: number;
  commitMs: number;
  otherMs: number;
}

interface VariantSummary {
  median: number;
  rounds: number[];
  min: number;
  max: number;
  medianElapsedMs: number;
  /** Median CPU time per event of the worker process, µs. */
  nodeCpuUs: number;
  /** Median CPU time per event of the variant's PostgreSQL server processes, µs (null: not readable). */
  pgCpuUs: number | null;
  split: BatchSplit | null;
  delivery: string | null;
}

interface BatchSummary {
  batchSize: number;
  variants: Partial<Record<VariantId, VariantSummary>>;
  memoryVsRaw: Ratio | null;
  sqlVsRaw: Ratio | null;
  sqlVsMemory: Ratio | null;
}

function summarize(batchSize: number, results: Map<VariantId, RunResult[]>): BatchSummary {
  const variants: Partial<Record<VariantId, VariantSummary>> = {};
  for (const [variant, list] of results) {
    const rounds = list.map(eventsPerSecond);
    const pg = list.map((r) => (r.pgCpuMs === null ? null : (r.pgCpuMs * 1000) / r.events));
    const timed = list.filter((r) => r.timings !== null && r.timings.batches > 0);
    const perBatch = (f: (r: RunResult) => number): number =>
      median(timed.map((r) => f(r) / r.timings!.batches));
    variants[variant] = {
      median: median(rounds),
      rounds,
      min: Math.min(...rounds),
      max: Math.max(...rounds),
      medianElapsedMs: median(list.map((r) => r.elapsedMs)),
      nodeCpuUs: median(list.map((r) => (r.nodeCpuMs * 1000) / r.events)),
      pgCpuUs: pg.every((v) => v !== null) ? median(pg as number[]) : null,
      split:
        timed.length === 0
          ? null
          : {
              batches: median(timed.map((r) => r.timings!.batches)),
              wallMs: perBatch((r) => r.elapsedMs),
              readMs: perBatch((r) => r.timings!.readMs),
              handleMs: perBatch((r) => r.timings!.handleMs),
              commitMs: perBatch((r) => r.timings!.commitMs),
              otherMs: perBatch(
                (r) => r.elapsedMs - r.timings!.readMs - r.timings!.handleMs - r.timings!.commitMs,
              ),
            },
      delivery: list[0]?.delivery ?? null,
    };
  }
  const ratio = (a: VariantId, b: VariantId): Ratio | null => {
    const x = results.get(a)?.map(eventsPerSecond);
    const y = results.get(b)?.map(eventsPerSecond);
    if (!x || !y) return null;
    const rounds = x.map((v, i) => v / y[i]!);
    return { ofMedians: median(x) / median(y), rounds, pairedMedian: median(rounds) };
  };
  return {
    batchSize,
    variants,
    memoryVsRaw: ratio('memory', 'raw'),
    sqlVsRaw: ratio('sql', 'raw'),
    sqlVsMemory: ratio('sql', 'memory'),
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

const formatInt = (value: number): string => Math.round(value).toLocaleString('en-US');
const formatMs = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toPrecision(3));
const formatRatio = (ratio: Ratio | null): string => (ratio ? `${ratio.ofMedians.toFixed(2)}×` : '—');
const formatUs = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toPrecision(3));

function throughputTable(summaries: BatchSummary[]): string {
  const lines = [
    '| variant | batch | median events/s | vs raw | same-round vs raw | rounds (events/s) | median time to caught up | CPU µs/event: node + PostgreSQL |',
    '| --- | ---: | ---: | ---: | --- | --- | ---: | ---: |',
  ];
  for (const s of summaries) {
    for (const variant of VARIANTS) {
      const v = s.variants[variant];
      if (!v) continue;
      const ratio = variant === 'memory' ? s.memoryVsRaw : variant === 'sql' ? s.sqlVsRaw : null;
      const cpu =
        v.pgCpuUs === null
          ? `${formatUs(v.nodeCpuUs)} + ?`
          : `${formatUs(v.nodeCpuUs)} + ${formatUs(v.pgCpuUs)} = ${formatUs(v.nodeCpuUs + v.pgCpuUs)}`;
      lines.push(
        `| ${VARIANT_NAMES[variant]} | ${s.batchSize} | ${formatInt(v.median)} | ${variant === 'raw' ? '1.00×' : formatRatio(ratio)} | ${ratio ? ratio.rounds.map((x) => `${x.toFixed(2)}×`).join(', ') : '—'} | ${v.rounds.map(formatInt).join(', ')} | ${formatMs(v.medianElapsedMs)} ms | ${cpu} |`,
      );
    }
  }
  return lines.join('\n');
}

function splitTable(summaries: BatchSummary[]): string {
  const lines = [
    '| variant | batch | batches | wall ms/batch | read | handle | commit | other (not in the three) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of summaries) {
    for (const variant of VARIANTS) {
      const split = s.variants[variant]?.split;
      if (!split) continue;
      const pct = (ms: number): string => `${formatMs(ms)} (${Math.round((ms / split.wallMs) * 100)}%)`;
      lines.push(
        `| ${VARIANT_NAMES[variant]} | ${s.batchSize} | ${formatInt(split.batches)} | ${formatMs(split.wallMs)} | ${pct(split.readMs)} | ${pct(split.handleMs)} | ${pct(split.commitMs)} | ${pct(split.otherMs)} |`,
      );
    }
  }
  return lines.join('\n');
}

/** The commit measured, and whether src/ had uncommitted changes (others edit it concurrently). */
function sourceRevision(): { commit: string; srcDirty: boolean } | null {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return null;
  }
}

async function postgresInfo(client: Client): Promise<Record<string, string>> {
  const { rows } = await client.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings
      WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', 'work_mem')
      ORDER BY name`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting]));
}

/** The connection string with `application_name` set (pg reads it from the URL). */
function withApplicationName(connectionString: string, name: string): string {
  const url = new URL(connectionString);
  url.searchParams.set('application_name', name);
  return url.toString();
}

function redact(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparsable)';
  }
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const admin = new Client({
    connectionString: CONNECTION_STRING,
    application_name: 'potter_bench_projections',
  });
  await admin.connect();
  try {
    // The event store benchmark's lock: the two never run (and measure each other) at once.
    await lockBenchRun(admin);
    await run(await postgresInfo(admin));
  } finally {
    await admin.end(); // releases the lock
  }
}

async function run(postgres: Record<string, string>): Promise<void> {
  const runStarted = performance.now();
  process.stderr.write(`seeding ${formatInt(EVENTS)} events into schema ${SCHEMA}…\n`);
  const seeded = await seed();
  process.stderr.write(
    `seeded in ${Math.round(seeded.ms)} ms (${formatInt(seeded.eventsPerSecond)} events/s, then VACUUM ANALYZE)\n`,
  );
  const workers = VARIANTS.map((variant) => new Worker(variant));
  try {
    const infos = new Map<VariantId, WorkerInfo>();
    for (const worker of workers) {
      const applicationName = `potter_bench_proj_${worker.variant}`;
      const config: WorkerConfig = {
        connectionString: CONNECTION_STRING,
        systemConnectionString: withApplicationName(CONNECTION_STRING, applicationName),
        applicationName,
        schema: SCHEMA,
        events: EVENTS,
        streams: STREAMS,
        customers: CUSTOMERS,
        warmupEvents: worker.variant === 'sql' ? SQL_WARMUP_EVENTS : WARMUP_EVENTS,
        warmupBatchSize: batchSizesOf(worker.variant)[0]!,
      };
      const { info } = await worker.request({ kind: 'setup', config }, 'ready');
      infos.set(worker.variant, info);
      process.stderr.write(`${worker.variant}: ready in ${Math.round(info.setupMs)} ms (warmup included)\n`);
    }

    const results = new Map<number, Map<VariantId, RunResult[]>>(ALL_BATCH_SIZES.map((b) => [b, new Map()]));
    for (let round = 0; round < ROUNDS; round++) {
      const started = Date.now();
      for (const [b, batchSize] of ALL_BATCH_SIZES.entries()) {
        const taking = workers.filter((worker) => batchSizesOf(worker.variant).includes(batchSize));
        const offset = (round + b) % taking.length;
        for (const worker of [...taking.slice(offset), ...taking.slice(0, offset)]) {
          const { result } = await worker.request({ kind: 'run', batchSize, round }, 'result');
          const list = results.get(batchSize)!.get(worker.variant) ?? [];
          list.push(result);
          results.get(batchSize)!.set(worker.variant, list);
          process.stderr.write(
            `round ${round + 1}/${ROUNDS} batch ${batchSize} ${worker.variant}: ${formatInt(eventsPerSecond(result))} events/s (${Math.round(result.elapsedMs)} ms)\n`,
          );
        }
      }
      process.stderr.write(
        `round ${round + 1}/${ROUNDS} done in ${Math.round((Date.now() - started) / 1000)} s\n`,
      );
    }
    for (const worker of workers) await worker.request({ kind: 'teardown' }, 'done');
    // After a teardown the workers exit by themselves (and write their --cpu-prof profiles).
    await Promise.all(workers.map((worker) => worker.close(10_000)));

    const summaries = ALL_BATCH_SIZES.map((batchSize) => summarize(batchSize, results.get(batchSize)!));
    const atTarget = summaries.find((s) => s.batchSize === TARGET_BATCH)?.memoryVsRaw ?? null;
    const atTargetSummary = summaries.find((s) => s.batchSize === TARGET_BATCH);
    const cpuRatio = ((): number | null => {
      const raw = atTargetSummary?.variants.raw;
      const memory = atTargetSummary?.variants.memory;
      if (!raw || !memory || raw.pgCpuUs === null || memory.pgCpuUs === null) return null;
      return (raw.nodeCpuUs + raw.pgCpuUs) / (memory.nodeCpuUs + memory.pgCpuUs);
    })();
    const target = atTarget && {
      description: `(a) memory read model ≥ ${TARGET_MEMORY_VS_RAW}× the raw read rate, batch ${TARGET_BATCH}`,
      actual: atTarget.ofMedians,
      pairedMedian: atTarget.pairedMedian,
      pairedMin: Math.min(...atTarget.rounds),
      pairedMax: Math.max(...atTarget.rounds),
      target: TARGET_MEMORY_VS_RAW,
      met: atTarget.ofMedians >= TARGET_MEMORY_VS_RAW,
      /** Cross-check less sensitive to other load: raw's CPU per event (node + PostgreSQL) / (a)'s. */
      cpuRatio,
    };

    const environment = {
      date: new Date().toISOString(),
      node: process.version,
      v8: process.versions.v8,
      platform: `${platform()} ${arch()}`,
      cpu: cpus()[0]?.model ?? 'unknown',
      cpuCount: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverageAtEnd: loadavg().map((v) => Number(v.toFixed(2))),
      postgres: { url: redact(CONNECTION_STRING), ...postgres },
      source: sourceRevision(),
      pg: packageVersion('pg'),
      runSeconds: Math.round((performance.now() - runStarted) / 1000),
    };
    const config = {
      rounds: ROUNDS,
      events: EVENTS,
      streams: STREAMS,
      eventsPerStream: EVENTS / STREAMS,
      customers: CUSTOMERS,
      payloadJsonChars: PAYLOAD_JSON_CHARS,
      batchSizes: BATCH_SIZES,
      sqlBatchSizes: SQL_BATCH_SIZES,
      warmupEvents: WARMUP_EVENTS,
      sqlWarmupEvents: SQL_WARMUP_EVENTS,
      seedWriters: SEED_WRITERS,
      seed: { ms: Math.round(seeded.ms), eventsPerSecond: Math.round(seeded.eventsPerSecond) },
    };

    const out: string[] = [
      '## Projection catch-up on PostgreSQL',
      '',
      `- date: ${environment.date} (run took ${environment.runSeconds} s)`,
      `- node: ${environment.node} (V8 ${environment.v8}), ${environment.platform}`,
      `- cpu: ${environment.cpu} × ${environment.cpuCount}, load average at the end ${environment.loadAverageAtEnd.join(' ')}`,
      `- PostgreSQL ${postgres['server_version'] ?? '?'} on the same machine (fsync ${postgres['fsync'] ?? '?'}, synchronous_commit ${postgres['synchronous_commit'] ?? '?'})`,
      `- source: ${environment.source ? `${environment.source.commit.slice(0, 12)}${environment.source.srcDirty ? ' + uncommitted src/ changes' : ''}` : 'unknown'}`,
      `- events: ${formatInt(EVENTS)} (${PAYLOAD_JSON_CHARS}-character JSON payloads), ${formatInt(STREAMS)} order streams of ${EVENTS / STREAMS}, read model of ${formatInt(CUSTOMERS)} customer documents; seeded in ${formatInt(seeded.ms)} ms`,
      `- method: one worker process per variant, untimed warmup over ${formatInt(WARMUP_EVENTS)} events (SQL read model: ${formatInt(SQL_WARMUP_EVENTS)}); ${ROUNDS} rounds, each batch size once per variant per round, variants rotated; median over rounds`,
      '',
      '### Catch-up throughput (events/s, median over rounds)',
      '',
      throughputTable(summaries),
      '',
      '### Time per batch (engine: `status.timings`, median over rounds)',
      '',
      'read = `readAll` (+ the subscription loop) between batches; handle = the handlers; commit = the',
      'checkpoint write (memory) or the `COMMIT` (SQL); other = wall time not in the three (lease, the',
      'SQL checkpoint `UPDATE` and `BEGIN` of transactional batches, the last empty read, the caught-up poll).',
      '',
      splitTable(summaries),
      '',
      '### Target',
      '',
      target
        ? `- **${target.met ? 'met' : 'MISSED'}**: ${target.description} — measured ${target.actual.toFixed(3)}× (target ${target.target}×); same-round: median ${target.pairedMedian.toFixed(2)}×, range ${target.pairedMin.toFixed(2)}–${target.pairedMax.toFixed(2)}×${target.cpuRatio === null ? '' : `; by CPU per event: ${target.cpuRatio.toFixed(2)}×`}`
        : `- not measured (needs the raw and memory variants at batch ${TARGET_BATCH})`,
      ...summaries
        .filter((s) => s.sqlVsRaw)
        .map(
          (s) =>
            `- (b) PostgreSQL read model, batch ${s.batchSize}: ${formatRatio(s.sqlVsRaw)} raw, ${formatRatio(s.sqlVsMemory)} (a) (reported, no target)`,
        ),
    ];
    process.stdout.write(`${out.join('\n')}\n`);

    if (!DEFAULT_RUN) {
      process.stderr.write(`partial run (BENCH_* settings): ${RESULTS_FILE} left unchanged\n`);
      return;
    }
    mkdirSync(join(RESULTS_FILE, '..'), { recursive: true });
    const json = {
      ...environment,
      config,
      variants: Object.fromEntries(infos),
      target,
      batches: summaries,
      raw: Object.fromEntries(
        [...results].map(([batch, byVariant]) => [batch, Object.fromEntries(byVariant)]),
      ),
    };
    writeFileSync(RESULTS_FILE, `${JSON.stringify(json, null, 2)}\n`);
    process.stderr.write(`results written to ${RESULTS_FILE}\n`);
  } finally {
    await Promise.all(workers.map((worker) => worker.close(0)));
    await dropSchema(CONNECTION_STRING, SCHEMA);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
