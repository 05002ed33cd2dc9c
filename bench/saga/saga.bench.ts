/**
 * Saga throughput, side by side in one run: a 3-step saga (each step's `execute` only writes into
 * the saga context) run by `SagaOrchestrator` with in-memory persistence (`MemorySagaStore`) and
 * with PostgreSQL persistence (`SqlSagaStore`), against the limit: the same three steps called
 * directly in sequence with one `INSERT` per step into a plain table on the same PostgreSQL (same
 * `pg.Pool` settings). A diagnostic variant writes `SqlSagaStore` alone, as the orchestrator does.
 * Run with `node build/bench/saga/saga.bench.js` after `npm run build`; see bench/RESULTS.md.
 *
 * Method: each variant runs in its own worker process (`saga.worker.ts`), after an untimed warmup.
 * The orchestrator runs ROUNDS rounds; in each, every concurrency level runs once per variant, the
 * order of the variants rotating. A run is `concurrency` loops each starting a saga and awaiting
 * its end, then the next, for BENCH_TIME_MS; it starts from an empty table and a new orchestrator
 * and is checked afterwards. Medians over rounds are reported, with same-round ratios.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { dropSchema, lockBenchRun, packageVersion, resetSchema } from '../eventstore/worker-runtime';
import { PgSqlClient, migrateEventStore } from './potter-saga';
import {
  VARIANT_IDS,
  type ParentMessage,
  type RunResult,
  type VariantId,
  type WorkerConfig,
  type WorkerInfo,
  type WorkerMessage,
} from './protocol';

// ---------------------------------------------------------------------------------------------------
// Configuration

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

function listFromEnv(name: string, fallback: string): string[] {
  return (process.env[name] || fallback).split(',').filter((item) => item !== '');
}

const CONNECTION_STRING =
  process.env['POTTER_POSTGRES_URL'] || 'postgres://potter:potter@127.0.0.1:5432/potter';
const SCHEMA = 'bench_saga';
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 3);
const TIME_MS = numberFromEnv('BENCH_TIME_MS', 3000);
const WARMUP_MS = numberFromEnv('BENCH_WARMUP_MS', 2000);
const POOL_SIZE = numberFromEnv('BENCH_POOL_SIZE', 10);
const CONCURRENCY = listFromEnv('BENCH_CONCURRENCY', '1,32').map((value) => {
  const level = Number(value);
  if (!Number.isInteger(level) || level < 1 || level > 10_000)
    throw new Error('BENCH_CONCURRENCY: integers from 1 to 10000');
  return level;
});
const VARIANTS = ((): VariantId[] => {
  const ids = listFromEnv('BENCH_VARIANTS', VARIANT_IDS.join(','));
  for (const id of ids)
    if (!VARIANT_IDS.includes(id as VariantId))
      throw new Error(`BENCH_VARIANTS: unknown id "${id}" (known: ${VARIANT_IDS.join(', ')})`);
  return VARIANT_IDS.filter((id) => ids.includes(id));
})();

const DEFAULT_RUN =
  ROUNDS >= 3 &&
  TIME_MS === 3000 &&
  POOL_SIZE === 10 &&
  CONCURRENCY.join(',') === '1,32' &&
  VARIANTS.length === VARIANT_IDS.length;

const VARIANT_NAMES: Record<VariantId, string> = {
  raw: '(c) steps + 1 `INSERT` each, raw `pg` (limit)',
  memory: '(a) orchestrator, `MemorySagaStore`',
  sql: '(b) orchestrator, `SqlSagaStore`',
  events: "(b') orchestrator, `SqlSagaStore` + saga events",
  store: 'diag: `SqlSagaStore` alone, same writes',
};

/** bench/results/, from build/bench/saga/ where this file runs once compiled. */
const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'saga.json');

// ---------------------------------------------------------------------------------------------------
// Workers

class Worker {
  readonly #child: ChildProcess;
  #pending: { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void } | undefined;
  #exited: Error | undefined;

  constructor(readonly variant: VariantId) {
    this.#child = fork(join(__dirname, 'saga.worker.js'), [variant], {
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
// Schema

/** A fresh schema with Potter's tables (`migrateEventStore`: `sagas` is v6) and the baseline's table. */
async function createSchema(): Promise<void> {
  await resetSchema(CONNECTION_STRING, SCHEMA);
  const client = new PgSqlClient({ connectionString: CONNECTION_STRING });
  try {
    await migrateEventStore(client, { schema: SCHEMA });
    await client.query(
      `CREATE TABLE "${SCHEMA}".saga_steps (
         saga_id text NOT NULL,
         step text NOT NULL,
         context jsonb NOT NULL,
         recorded_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (saga_id, step)
       )`,
    );
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Statistics

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const sagasPerSecond = (r: RunResult): number => (r.sagas * 1000) / r.elapsedMs;
const totalWrites = (r: RunResult): number => Object.values(r.writes).reduce((sum, n) => sum + n, 0);

interface Ratio {
  /** Ratio of the medians. */
  ofMedians: number;
  /** Ratios within each round (cancel drift between rounds). */
  rounds: number[];
  pairedMedian: number;
}

interface VariantSummary {
  median: number;
  rounds: number[];
  sagasPerRun: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Persistence calls per saga, by kind (median over rounds). */
  writesPerSaga: Record<string, number>;
  /** Mean ms of one call, by kind (median over rounds). */
  msPerWriteByKind: Record<string, number>;
  totalWritesPerSaga: number;
  /** Mean wall time of one persistence call, as the caller sees it (pool wait included), ms. */
  msPerWrite: number;
  /** Share of a saga's latency spent waiting for its persistence calls. */
  writeShareOfLatency: number;
  /** Wall time per saga at this concurrency (1 / throughput), ms. */
  msPerSaga: number;
  nodeCpuUs: number;
  pgCpuUs: number | null;
  /** Heap the run left reachable, per saga, bytes (see {@link RunResult.heapRetainedBytes}). */
  retainedBytesPerSaga: number | null;
}

interface LevelSummary {
  concurrency: number;
  variants: Partial<Record<VariantId, VariantSummary>>;
  /** (b) / (c), (a) / (c), diag / (c), (b) / (a). */
  ratios: {
    sqlVsRaw: Ratio | null;
    memoryVsRaw: Ratio | null;
    storeVsRaw: Ratio | null;
    sqlVsMemory: Ratio | null;
    /** (b') / (c) and (b') / (b): the price of recording saga events. */
    eventsVsRaw: Ratio | null;
    eventsVsSql: Ratio | null;
  };
  /**
   * (b)'s time per saga minus (a)'s (1 / throughput), per store write of (b): what each
   * PostgreSQL write adds to a saga at this concurrency.
   */
  persistenceMsPerWrite: number | null;
}

function summarize(concurrency: number, results: Map<VariantId, RunResult[]>): LevelSummary {
  const variants: Partial<Record<VariantId, VariantSummary>> = {};
  for (const [variant, list] of results) {
    const rounds = list.map(sagasPerSecond);
    const kinds = [...new Set(list.flatMap((r) => Object.keys(r.writes)))].sort();
    const pg = list.map((r) => (r.pgCpuMs === null ? null : (r.pgCpuMs * 1000) / r.sagas));
    variants[variant] = {
      median: median(rounds),
      rounds,
      sagasPerRun: median(list.map((r) => r.sagas)),
      latencyP50Ms: median(list.map((r) => r.latencyMs.p50)),
      latencyP99Ms: median(list.map((r) => r.latencyMs.p99)),
      writesPerSaga: Object.fromEntries(
        kinds.map((kind) => [kind, median(list.map((r) => (r.writes[kind] ?? 0) / r.sagas))]),
      ),
      msPerWriteByKind: Object.fromEntries(
        kinds.map((kind) => [
          kind,
          median(list.filter((r) => r.writes[kind]).map((r) => r.writeMsByKind[kind]! / r.writes[kind]!)),
        ]),
      ),
      totalWritesPerSaga: median(list.map((r) => totalWrites(r) / r.sagas)),
      msPerWrite: median(list.map((r) => r.writeMs / Math.max(1, totalWrites(r)))),
      writeShareOfLatency: median(list.map((r) => r.writeMs / r.sagas / r.latencyMs.mean)),
      msPerSaga: 1000 / median(rounds),
      nodeCpuUs: median(list.map((r) => (r.nodeCpuMs * 1000) / r.sagas)),
      pgCpuUs: pg.every((v) => v !== null) ? median(pg as number[]) : null,
      retainedBytesPerSaga: list.every((r) => r.heapRetainedBytes !== null)
        ? median(list.map((r) => r.heapRetainedBytes! / r.sagas))
        : null,
    };
  }
  const ratio = (a: VariantId, b: VariantId): Ratio | null => {
    const x = results.get(a)?.map(sagasPerSecond);
    const y = results.get(b)?.map(sagasPerSecond);
    if (!x || !y) return null;
    const rounds = x.map((v, i) => v / y[i]!);
    return { ofMedians: median(x) / median(y), rounds, pairedMedian: median(rounds) };
  };
  const sql = variants.sql;
  const memory = variants.memory;
  return {
    concurrency,
    variants,
    ratios: {
      sqlVsRaw: ratio('sql', 'raw'),
      memoryVsRaw: ratio('memory', 'raw'),
      storeVsRaw: ratio('store', 'raw'),
      sqlVsMemory: ratio('sql', 'memory'),
      eventsVsRaw: ratio('events', 'raw'),
      eventsVsSql: ratio('events', 'sql'),
    },
    persistenceMsPerWrite: sql && memory ? (sql.msPerSaga - memory.msPerSaga) / sql.totalWritesPerSaga : null,
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

const formatInt = (value: number): string => Math.round(value).toLocaleString('en-US');
const formatNum = (value: number): string =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toPrecision(3);
const formatRatio = (ratio: Ratio | null): string => (ratio ? `${ratio.ofMedians.toFixed(3)}×` : '—');
const formatRounds = (ratio: Ratio | null): string =>
  ratio ? ratio.rounds.map((x) => `${x.toFixed(3)}×`).join(', ') : '—';

function ratioOf(level: LevelSummary, variant: VariantId): Ratio | null {
  switch (variant) {
    case 'sql':
      return level.ratios.sqlVsRaw;
    case 'memory':
      return level.ratios.memoryVsRaw;
    case 'store':
      return level.ratios.storeVsRaw;
    case 'events':
      return level.ratios.eventsVsRaw;
    case 'raw':
      return null;
  }
}

function throughputTable(levels: LevelSummary[]): string {
  const lines = [
    '| variant | in flight | median sagas/s | vs (c) | same-round vs (c) | rounds (sagas/s) | latency p50 / p99 ms | CPU µs/saga: node + PostgreSQL |',
    '| --- | ---: | ---: | ---: | --- | --- | ---: | ---: |',
  ];
  for (const level of levels) {
    for (const variant of VARIANTS) {
      const v = level.variants[variant];
      if (!v) continue;
      const ratio = ratioOf(level, variant);
      const cpu =
        v.pgCpuUs === null
          ? `${formatNum(v.nodeCpuUs)}${variant === 'memory' ? '' : ' + ?'}`
          : `${formatNum(v.nodeCpuUs)} + ${formatNum(v.pgCpuUs)} = ${formatNum(v.nodeCpuUs + v.pgCpuUs)}`;
      lines.push(
        `| ${VARIANT_NAMES[variant]} | ${level.concurrency} | ${formatInt(v.median)} | ${variant === 'raw' ? '1.00×' : formatRatio(ratio)} | ${formatRounds(ratio)} | ${v.rounds.map(formatInt).join(', ')} | ${formatNum(v.latencyP50Ms)} / ${formatNum(v.latencyP99Ms)} | ${cpu} |`,
      );
    }
  }
  return lines.join('\n');
}

function persistenceTable(levels: LevelSummary[]): string {
  const lines = [
    '| variant | in flight | writes per saga (by kind: count × mean ms) | mean ms per write (caller, pool wait incl.) | share of saga latency in writes | ms per saga (1 / throughput) | heap kept per saga |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const level of levels) {
    for (const variant of VARIANTS) {
      const v = level.variants[variant];
      if (!v) continue;
      const kinds = Object.entries(v.writesPerSaga)
        .map(([kind, n]) => `${kind} ${formatNum(n)} × ${(v.msPerWriteByKind[kind] ?? 0).toPrecision(3)} ms`)
        .join(', ');
      lines.push(
        `| ${VARIANT_NAMES[variant]} | ${level.concurrency} | ${formatNum(v.totalWritesPerSaga)} (${kinds}) | ${v.msPerWrite.toPrecision(3)} | ${Math.round(v.writeShareOfLatency * 100)}% | ${v.msPerSaga.toPrecision(3)} | ${v.retainedBytesPerSaga === null ? '?' : `${formatInt(v.retainedBytesPerSaga)} B`} |`,
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
      WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')
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
  const admin = new Client({ connectionString: CONNECTION_STRING, application_name: 'potter_bench_saga' });
  await admin.connect();
  try {
    // The PostgreSQL benchmarks' shared lock: they never run (and measure each other) at once.
    await lockBenchRun(admin);
    await run(await postgresInfo(admin));
  } finally {
    await admin.end(); // releases the lock
  }
}

async function run(postgres: Record<string, string>): Promise<void> {
  const runStarted = performance.now();
  await createSchema();
  const workers = VARIANTS.map((variant) => new Worker(variant));
  try {
    const infos = new Map<VariantId, WorkerInfo>();
    for (const worker of workers) {
      const applicationName = `potter_bench_saga_${worker.variant}`;
      const config: WorkerConfig = {
        connectionString: CONNECTION_STRING,
        systemConnectionString: withApplicationName(CONNECTION_STRING, applicationName),
        applicationName,
        schema: SCHEMA,
        poolSize: POOL_SIZE,
        warmupMs: WARMUP_MS,
        warmupConcurrency: Math.max(...CONCURRENCY),
      };
      const { info } = await worker.request({ kind: 'setup', config }, 'ready');
      infos.set(worker.variant, info);
      process.stderr.write(`${worker.variant}: ready in ${Math.round(info.setupMs)} ms (warmup included)\n`);
    }

    const results = new Map<number, Map<VariantId, RunResult[]>>(CONCURRENCY.map((c) => [c, new Map()]));
    for (let round = 0; round < ROUNDS; round++) {
      const started = Date.now();
      for (const [i, concurrency] of CONCURRENCY.entries()) {
        const offset = (round + i) % workers.length;
        for (const worker of [...workers.slice(offset), ...workers.slice(0, offset)]) {
          const { result } = await worker.request(
            { kind: 'run', concurrency, durationMs: TIME_MS, round },
            'result',
          );
          const list = results.get(concurrency)!.get(worker.variant) ?? [];
          list.push(result);
          results.get(concurrency)!.set(worker.variant, list);
          process.stderr.write(
            `round ${round + 1}/${ROUNDS} c${concurrency} ${worker.variant}: ${formatInt(sagasPerSecond(result))} sagas/s (${result.sagas} sagas, ${(totalWrites(result) / result.sagas).toFixed(2)} writes each, ${(result.writeMs / Math.max(1, totalWrites(result))).toFixed(3)} ms per write)\n`,
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

    const levels = CONCURRENCY.map((concurrency) => summarize(concurrency, results.get(concurrency)!));
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
      timeMs: TIME_MS,
      warmupMs: WARMUP_MS,
      poolSize: POOL_SIZE,
      concurrency: CONCURRENCY,
      variants: VARIANTS,
    };
    const recordSizes = VARIANTS.map((v) => `${v} ${infos.get(v)?.recordJsonChars ?? '?'}`).join(', ');

    const out: string[] = [
      '## Sagas on PostgreSQL',
      '',
      `- date: ${environment.date} (run took ${environment.runSeconds} s)`,
      `- node: ${environment.node} (V8 ${environment.v8}), ${environment.platform}`,
      `- cpu: ${environment.cpu} × ${environment.cpuCount}, load average at the end ${environment.loadAverageAtEnd.join(' ')}`,
      `- PostgreSQL ${postgres['server_version'] ?? '?'} on the same machine (fsync ${postgres['fsync'] ?? '?'}, synchronous_commit ${postgres['synchronous_commit'] ?? '?'}); pg.Pool max ${POOL_SIZE} for every PostgreSQL variant`,
      `- source: ${environment.source ? `${environment.source.commit.slice(0, 12)}${environment.source.srcDirty ? ' + uncommitted src/ changes' : ''}` : 'unknown'}`,
      `- saga: 3 steps, each execute writes into the context; JSON of the last record persisted per saga (chars): ${recordSizes}`,
      `- method: one worker process per variant, untimed warmup ${WARMUP_MS} ms; ${ROUNDS} rounds, each concurrency once per variant per round, variants rotated; runs of ${TIME_MS} ms from an empty table; median over rounds`,
      '',
      '### Throughput (sagas/s, median over rounds)',
      '',
      throughputTable(levels),
      '',
      '### Persistence per saga',
      '',
      persistenceTable(levels),
      '',
      '### Ratios',
      '',
      ...levels.map(
        (level) =>
          `- ${level.concurrency} in flight: (b)/(c) ${formatRatio(level.ratios.sqlVsRaw)} (same-round ${formatRounds(level.ratios.sqlVsRaw)}), (a)/(c) ${formatRatio(level.ratios.memoryVsRaw)}, diag/(c) ${formatRatio(level.ratios.storeVsRaw)}, (b)/(a) ${formatRatio(level.ratios.sqlVsMemory)}, (b')/(b) ${formatRatio(level.ratios.eventsVsSql)} (same-round ${formatRounds(level.ratios.eventsVsSql)}); PostgreSQL persistence adds ${level.persistenceMsPerWrite === null ? '—' : level.persistenceMsPerWrite.toPrecision(3)} ms of throughput time per store write ((b) − (a) per saga / writes)`,
      ),
    ];
    process.stdout.write(`${out.join('\n')}\n`);

    const resultsFile = process.env['BENCH_RESULTS_FILE'] || (DEFAULT_RUN ? RESULTS_FILE : undefined);
    if (!resultsFile) {
      process.stderr.write(`partial run (BENCH_* settings): ${RESULTS_FILE} left unchanged\n`);
      return;
    }
    mkdirSync(join(resultsFile, '..'), { recursive: true });
    const json = {
      benchmark: 'saga',
      ...environment,
      config,
      variants: Object.fromEntries(
        [...infos].map(([id, info]) => [id, { name: VARIANT_NAMES[id], ...info }]),
      ),
      levels,
      raw: Object.fromEntries([...results].map(([c, byVariant]) => [c, Object.fromEntries(byVariant)])),
    };
    writeFileSync(resultsFile, `${JSON.stringify(json, null, 2)}\n`);
    process.stderr.write(`results written to ${resultsFile}\n`);
  } finally {
    await Promise.all(workers.map((worker) => worker.close(0)));
    await dropSchema(CONNECTION_STRING, SCHEMA);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
