/**
 * Event store throughput on PostgreSQL, side by side on the same server in one run: plain `pg`
 * INSERTs of the same rows (the limit), Emmett's PostgreSQL event store, and Potter's
 * (`potter/postgres`). Appends of 1, 10 and 100 events per call, 8 concurrent writers; reading and
 * folding a 10,000-event stream; loading a 10,000-event aggregate with and without a snapshot.
 * Run with `node build/bench/eventstore/eventstore.bench.js` after `npm run build`; see
 * bench/RESULTS.md.
 *
 * Method: each system runs in its own worker process (`*.worker.ts`, forked here) with only its
 * own libraries loaded, in its own PostgreSQL schema, created fresh and dropped at the end. The
 * orchestrator runs ROUNDS rounds; in each, every task runs once per system, one system at a time,
 * the order of the systems rotating with the round and the task. Each timed task is preceded by an
 * untimed warmup of the same shape. Medians over rounds are reported, with same-round ratios.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  SYSTEM_IDS,
  TASK_IDS,
  type ParentMessage,
  type StorageStats,
  type SystemId,
  type TaskId,
  type TaskResult,
  type TaskSpec,
  type WorkerConfig,
  type WorkerInfo,
  type WorkerMessage,
} from './protocol';
import { lockBenchRun } from './worker-runtime';
import { PAYLOAD_JSON_CHARS } from './workload';

// ---------------------------------------------------------------------------------------------------
// Configuration (environment overrides for quick runs: BENCH_SCALE=0.1 BENCH_ROUNDS=1 …)

function numberFromEnv(name: string, fallback: number, integer = true): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}`);
  return value;
}

function listFromEnv<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = (process.env[name] ?? '').split(',').filter((id) => id !== '');
  if (raw.length === 0) return [...all];
  for (const id of raw)
    if (!all.includes(id as T)) throw new Error(`${name}: unknown id "${id}" (known: ${all.join(', ')})`);
  return all.filter((id) => raw.includes(id));
}

const CONNECTION_STRING =
  process.env['POTTER_POSTGRES_URL'] || 'postgres://potter:potter@127.0.0.1:5432/potter';
/** Interleaved rounds; medians over them are reported. */
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 5);
/** Multiplies the number of append calls (e.g. 0.1 for a quick check). */
const SCALE = numberFromEnv('BENCH_SCALE', 1, false);
/** Events in the stream that is read and loaded. */
const STREAM_EVENTS = numberFromEnv('BENCH_STREAM_EVENTS', 10_000);
/** Reads (and full loads) of that stream per round and system; snapshot loads are 10× as many. */
const READS = numberFromEnv('BENCH_READS', 5);
const SYSTEMS = listFromEnv('BENCH_SYSTEMS', SYSTEM_IDS);
const ONLY = listFromEnv('BENCH_ONLY', TASK_IDS);
/** Untimed warmup before each timed append task, as a fraction of its calls. */
const WARMUP_FRACTION = 0.05;

const scaled = (calls: number, atLeast: number): number => Math.max(atLeast, Math.round(calls * SCALE));

const TASKS: Record<TaskId, TaskSpec> = {
  'append-1': {
    kind: 'append',
    writers: 1,
    callsPerWriter: scaled(3000, 100),
    batchSize: 1,
    streamsPerWriter: 100,
  },
  'append-10': {
    kind: 'append',
    writers: 1,
    callsPerWriter: scaled(3000, 100),
    batchSize: 10,
    streamsPerWriter: 100,
  },
  'append-100': {
    kind: 'append',
    writers: 1,
    callsPerWriter: scaled(300, 30),
    batchSize: 100,
    streamsPerWriter: 30,
  },
  'append-8x10': {
    kind: 'append',
    writers: 8,
    callsPerWriter: scaled(375, 10),
    batchSize: 10,
    streamsPerWriter: 10,
  },
  'read-fold': { kind: 'read-fold', repetitions: READS },
  'load-full': { kind: 'load-full', repetitions: READS },
  'load-snapshot': { kind: 'load-snapshot', repetitions: READS * 10 },
};

const TASK_NAMES: Record<TaskId, string> = {
  'append-1': 'single-event appends',
  'append-10': 'batches of 10',
  'append-100': 'batches of 100',
  'append-8x10': '8 writers × batches of 10',
  'read-fold': `read + fold a ${STREAM_EVENTS.toLocaleString('en-US')}-event stream`,
  'load-full': `aggregate load, full replay (${STREAM_EVENTS.toLocaleString('en-US')} events)`,
  'load-snapshot': `aggregate load from a snapshot at v${STREAM_EVENTS.toLocaleString('en-US')}`,
};

const SYSTEM_NAMES: Record<SystemId, string> = {
  raw: 'raw pg (limit)',
  emmett: 'Emmett',
  potter: 'Potter',
};

/** Potter's targets: minimum ratio to raw pg for throughput tasks. */
const TARGET_VS_RAW: Partial<Record<TaskId, number>> = {
  'append-1': 0.8,
  'append-10': 0.8,
  'append-100': 0.8,
  'append-8x10': 0.7,
  'read-fold': 0.8,
};
/** Loading from the snapshot must be at least this many times faster than the full replay. */
const TARGET_SNAPSHOT_SPEEDUP = 20;

/** Measured on this kind of machine before Potter existed (100,000 events of ~215 B), for orientation. */
const REFERENCE: Partial<Record<TaskId, { raw: number; emmettVsRaw: number }>> = {
  'append-1': { raw: 1_700, emmettVsRaw: 0.47 },
  'append-100': { raw: 16_000, emmettVsRaw: 0.51 },
  'append-8x10': { raw: 20_000, emmettVsRaw: 0.35 },
  'read-fold': { raw: 62_000, emmettVsRaw: 0.5 },
};

/** bench/results/, from build/bench/eventstore/ where this file runs once compiled. */
const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'eventstore.json');

// ---------------------------------------------------------------------------------------------------
// Workers

class Worker {
  readonly #child: ChildProcess;
  #pending: { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void } | undefined;
  #exited: Error | undefined;

  constructor(readonly system: SystemId) {
    this.#child = fork(join(__dirname, `${system === 'raw' ? 'raw-pg' : system}.worker.js`), [], {
      execArgv: ['--expose-gc', ...process.execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message: WorkerMessage) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (!pending) return;
      if (message.kind === 'error') {
        const error = new Error(`${system} worker: ${message.message}`);
        if (message.stack) error.stack = `${error.message}\n(worker stack) ${message.stack}`;
        pending.reject(error);
      } else pending.resolve(message);
    });
    this.#child.on('exit', (code, signal) => {
      this.#exited = new Error(`${system} worker exited (code ${code}, signal ${signal})`);
      this.#pending?.reject(this.#exited);
      this.#pending = undefined;
    });
  }

  request<K extends WorkerMessage['kind']>(
    message: ParentMessage,
    expected: K,
  ): Promise<Extract<WorkerMessage, { kind: K }>> {
    if (this.#exited) return Promise.reject(this.#exited);
    if (this.#pending) return Promise.reject(new Error(`${this.system} worker is busy`));
    return new Promise<WorkerMessage>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#child.send(message);
    }).then((reply) => {
      if (reply.kind !== expected)
        throw new Error(`${this.system} worker answered ${reply.kind} to ${message.kind}`);
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
// Statistics

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const isLoad = (task: TaskId): boolean => task === 'load-full' || task === 'load-snapshot';

/** Events/s for throughput tasks, ms per operation for loads. */
function valueOf(task: TaskId, result: TaskResult): number {
  return isLoad(task) ? result.elapsedMs / result.operations : (result.events * 1000) / result.elapsedMs;
}

interface SystemSummary {
  median: number;
  rounds: number[];
  min: number;
  max: number;
  /** Median CPU time of the worker process per unit (µs per event; per load for snapshot loads). */
  nodeCpuUs: number;
  /** Median CPU time of the system's PostgreSQL server processes per unit (null: not measurable). */
  pgCpuUs: number | null;
}

/** What CPU times are divided by: events, or loads for the snapshot load (10,000 events that are not read). */
const cpuUnit = (task: TaskId): 'event' | 'load' => (task === 'load-snapshot' ? 'load' : 'event');

interface Ratio {
  /** Ratio of the medians. */
  ofMedians: number;
  /** Ratios within each round (cancel drift between rounds). */
  rounds: number[];
  pairedMedian: number;
}

interface TaskSummary {
  id: TaskId;
  name: string;
  unit: 'events/s' | 'ms';
  spec: TaskSpec;
  systems: Partial<Record<SystemId, SystemSummary>>;
  potterVsRaw: Ratio | null;
  potterVsEmmett: Ratio | null;
  emmettVsRaw: Ratio | null;
}

function summarize(task: TaskId, results: Map<SystemId, TaskResult[]>): TaskSummary {
  const systems: Partial<Record<SystemId, SystemSummary>> = {};
  const perRound = new Map<SystemId, number[]>();
  for (const [system, list] of results) {
    const rounds = list.map((r) => valueOf(task, r));
    perRound.set(system, rounds);
    const per = (r: TaskResult): number => (cpuUnit(task) === 'load' ? r.operations : r.events);
    const pg = list.map((r) => (r.pgCpuMs === null ? null : (r.pgCpuMs * 1000) / per(r)));
    systems[system] = {
      median: median(rounds),
      rounds,
      min: Math.min(...rounds),
      max: Math.max(...rounds),
      nodeCpuUs: median(list.map((r) => (r.nodeCpuMs * 1000) / per(r))),
      pgCpuUs: pg.every((v) => v !== null) ? median(pg as number[]) : null,
    };
  }
  const ratio = (a: SystemId, b: SystemId): Ratio | null => {
    const x = perRound.get(a);
    const y = perRound.get(b);
    if (!x || !y) return null;
    const rounds = x.map((v, i) => v / y[i]!);
    return { ofMedians: median(x) / median(y), rounds, pairedMedian: median(rounds) };
  };
  return {
    id: task,
    name: TASK_NAMES[task],
    unit: isLoad(task) ? 'ms' : 'events/s',
    spec: TASKS[task],
    systems,
    potterVsRaw: ratio('potter', 'raw'),
    potterVsEmmett: ratio('potter', 'emmett'),
    emmettVsRaw: ratio('emmett', 'raw'),
  };
}

interface Target {
  description: string;
  actual: number;
  pairedMedian: number;
  pairedMin: number;
  pairedMax: number;
  target: number;
  met: boolean;
  /** Cross-check less sensitive to other load on the machine: raw's CPU per event / Potter's (node + PostgreSQL). */
  cpuRatio: number | null;
}

/** Raw's total CPU per event divided by Potter's: the throughput ratio if CPU were the only limit. */
function cpuRatio(summary: TaskSummary): number | null {
  const raw = summary.systems.raw;
  const potter = summary.systems.potter;
  if (!raw || !potter || raw.pgCpuUs === null || potter.pgCpuUs === null) return null;
  return (raw.nodeCpuUs + raw.pgCpuUs) / (potter.nodeCpuUs + potter.pgCpuUs);
}

function targets(summaries: TaskSummary[], loadSpeedup: Ratio | null): Target[] {
  const checks: Target[] = [];
  for (const summary of summaries) {
    const goal = TARGET_VS_RAW[summary.id];
    const ratio = summary.potterVsRaw;
    if (goal === undefined || !ratio) continue;
    checks.push({
      description: `${summary.name}: Potter ≥ ${goal}× raw pg`,
      actual: ratio.ofMedians,
      pairedMedian: ratio.pairedMedian,
      pairedMin: Math.min(...ratio.rounds),
      pairedMax: Math.max(...ratio.rounds),
      target: goal,
      met: ratio.ofMedians >= goal,
      cpuRatio: cpuRatio(summary),
    });
  }
  if (loadSpeedup) {
    checks.push({
      description: `aggregate load from a snapshot ≥ ${TARGET_SNAPSHOT_SPEEDUP}× faster than the full replay`,
      actual: loadSpeedup.ofMedians,
      pairedMedian: loadSpeedup.pairedMedian,
      pairedMin: Math.min(...loadSpeedup.rounds),
      pairedMax: Math.max(...loadSpeedup.rounds),
      target: TARGET_SNAPSHOT_SPEEDUP,
      met: loadSpeedup.ofMedians >= TARGET_SNAPSHOT_SPEEDUP,
      cpuRatio: null,
    });
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------------
// Report

const formatInt = (value: number): string => Math.round(value).toLocaleString('en-US');
const formatMs = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toPrecision(3));
const formatRatio = (ratio: Ratio | null): string => (ratio ? `${ratio.ofMedians.toFixed(2)}×` : '—');
const formatValue = (summary: TaskSummary, system: SystemId): string => {
  const s = summary.systems[system];
  if (!s) return '—';
  return summary.unit === 'ms' ? `${formatMs(s.median)} ms` : formatInt(s.median);
};

function throughputTable(summaries: TaskSummary[]): string {
  const lines = [
    '| task | raw pg (limit) | Emmett | Potter | Potter / raw | Potter / Emmett | Emmett / raw (reference) | target | status |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const s of summaries) {
    if (s.unit !== 'events/s') continue;
    const reference = REFERENCE[s.id];
    const emmettVsRaw = `${formatRatio(s.emmettVsRaw)}${reference ? ` (${reference.emmettVsRaw}×)` : ''}`;
    const goal = TARGET_VS_RAW[s.id];
    const status =
      goal === undefined || !s.potterVsRaw ? '—' : s.potterVsRaw.ofMedians >= goal ? 'met' : '**MISSED**';
    lines.push(
      `| ${s.name} | ${formatValue(s, 'raw')} | ${formatValue(s, 'emmett')} | ${formatValue(s, 'potter')} | ${formatRatio(s.potterVsRaw)} | ${formatRatio(s.potterVsEmmett)} | ${emmettVsRaw} | ${goal === undefined ? '—' : `≥ ${goal}× raw`} | ${status} |`,
    );
  }
  return lines.join('\n');
}

function spreadTable(summaries: TaskSummary[]): string {
  const lines = [
    '| task | unit | raw pg: rounds | Emmett: rounds | Potter: rounds | Potter / raw, same round | Potter / Emmett, same round |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const rounds = (s: TaskSummary, system: SystemId): string => {
    const x = s.systems[system];
    if (!x) return '—';
    return x.rounds.map((v) => (s.unit === 'ms' ? formatMs(v) : formatInt(v))).join(', ');
  };
  const ratios = (r: Ratio | null): string => (r ? r.rounds.map((v) => `${v.toFixed(2)}×`).join(', ') : '—');
  for (const s of summaries) {
    lines.push(
      `| ${s.name} | ${s.unit} | ${rounds(s, 'raw')} | ${rounds(s, 'emmett')} | ${rounds(s, 'potter')} | ${ratios(s.potterVsRaw)} | ${ratios(s.potterVsEmmett)} |`,
    );
  }
  return lines.join('\n');
}

function cpuTable(summaries: TaskSummary[]): string {
  const lines = [
    '| task | per | raw pg: node + PostgreSQL | Emmett: node + PostgreSQL | Potter: node + PostgreSQL |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  const cell = (s: TaskSummary, system: SystemId): string => {
    const x = s.systems[system];
    if (!x) return '—';
    const f = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
    return x.pgCpuUs === null
      ? `${f(x.nodeCpuUs)} + ?`
      : `${f(x.nodeCpuUs)} + ${f(x.pgCpuUs)} = ${f(x.nodeCpuUs + x.pgCpuUs)}`;
  };
  // A snapshot load takes well under a millisecond: too short for /proc's 10 ms ticks.
  for (const s of summaries.filter((x) => x.id !== 'load-snapshot')) {
    lines.push(
      `| ${s.name} | ${cpuUnit(s.id)} | ${cell(s, 'raw')} | ${cell(s, 'emmett')} | ${cell(s, 'potter')} |`,
    );
  }
  return lines.join('\n');
}

function loadTable(summaries: TaskSummary[], speedup: Ratio | null): string {
  const byId = new Map(summaries.map((s) => [s.id, s]));
  const read = byId.get('read-fold');
  const rawRead = read?.systems.raw;
  const lines = [
    `| ${STREAM_EVENTS.toLocaleString('en-US')}-event stream | median ms per read/load | events/s | vs raw read + fold |`,
    '| --- | ---: | ---: | ---: |',
  ];
  const row = (label: string, ms: number | undefined): void => {
    if (ms === undefined) return;
    const vsRaw = rawRead ? `${((STREAM_EVENTS * 1000) / ms / rawRead.median).toFixed(2)}×` : '—';
    lines.push(`| ${label} | ${formatMs(ms)} | ${formatInt((STREAM_EVENTS * 1000) / ms)} | ${vsRaw} |`);
  };
  const msOf = (s: SystemSummary | undefined): number | undefined =>
    s ? (STREAM_EVENTS * 1000) / s.median : undefined;
  row('raw pg: SELECT + fold', msOf(read?.systems.raw));
  row('Emmett: aggregateStream', msOf(read?.systems.emmett));
  row('Potter: readStream + fold', msOf(read?.systems.potter));
  row('Potter: AggregateRepository.load, full replay', byId.get('load-full')?.systems.potter?.median);
  const snapshot = byId.get('load-snapshot')?.systems.potter?.median;
  if (snapshot !== undefined) {
    lines.push(
      `| Potter: AggregateRepository.load from the snapshot at v${STREAM_EVENTS.toLocaleString('en-US')} (tail empty) | ${formatMs(snapshot)} | — | — |`,
    );
  }
  if (speedup)
    lines.push(
      '',
      `Snapshot load vs full replay: **${speedup.ofMedians.toFixed(0)}× faster** (same-round: ${speedup.rounds.map((v) => `${v.toFixed(0)}×`).join(', ')}).`,
    );
  return lines.join('\n');
}

function storageTable(stats: Partial<Record<SystemId, StorageStats>>): string {
  const lines = [
    '| system | event rows | avg payload (jsonb text, chars) | avg metadata (chars) | schema size (tables + indexes) |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const system of SYSTEMS) {
    const s = stats[system];
    if (!s) continue;
    lines.push(
      `| ${SYSTEM_NAMES[system]} | ${formatInt(s.events)} | ${s.avgPayloadChars.toFixed(0)} | ${s.avgMetadataChars.toFixed(0)} | ${(s.schemaBytes / 1048576).toFixed(1)} MiB |`,
    );
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
      WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers',
                     'wal_level', 'max_connections', 'work_mem')
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
    application_name: 'potter_bench_eventstore',
  });
  await admin.connect();
  try {
    await lockBenchRun(admin);
    await run(await postgresInfo(admin));
  } finally {
    await admin.end(); // releases the lock
  }
}

/** Fails early, with the command to run, when a system's library is not installed. */
function checkInstalled(): void {
  if (!SYSTEMS.includes('emmett')) return;
  try {
    require.resolve('@event-driven-io/emmett-postgresql');
  } catch {
    throw new Error(
      'Emmett is not installed: npm install (it is a devDependency), or leave it out with BENCH_SYSTEMS=raw,potter',
    );
  }
}

async function run(postgres: Record<string, string>): Promise<void> {
  checkInstalled();
  const workers = SYSTEMS.map((system) => new Worker(system));
  try {
    const infos = new Map<SystemId, WorkerInfo>();
    for (const worker of workers) {
      const applicationName = `potter_bench_${worker.system}`;
      const config: WorkerConfig = {
        connectionString: CONNECTION_STRING,
        systemConnectionString: withApplicationName(CONNECTION_STRING, applicationName),
        applicationName,
        schema: `bench_${worker.system}`,
        streamEvents: STREAM_EVENTS,
        tasks: TASKS,
        only: ONLY,
        warmupFraction: WARMUP_FRACTION,
      };
      const { info } = await worker.request({ kind: 'setup', config }, 'ready');
      infos.set(worker.system, info);
      process.stderr.write(`${worker.system}: ready in ${Math.round(info.setupMs)} ms\n`);
    }

    const tasks = ONLY.filter((task) => workers.some((w) => infos.get(w.system)!.tasks.includes(task)));
    const results = new Map<TaskId, Map<SystemId, TaskResult[]>>(tasks.map((t) => [t, new Map()]));
    for (let round = 0; round < ROUNDS; round++) {
      const started = Date.now();
      for (const [t, task] of tasks.entries()) {
        const taking = workers.filter((w) => infos.get(w.system)!.tasks.includes(task));
        const offset = (round + t) % taking.length;
        for (const worker of [...taking.slice(offset), ...taking.slice(0, offset)]) {
          const { result } = await worker.request({ kind: 'run', task, round }, 'result');
          const list = results.get(task)!.get(worker.system) ?? [];
          list.push(result);
          results.get(task)!.set(worker.system, list);
          process.stderr.write(
            `round ${round + 1}/${ROUNDS} ${task} ${worker.system}: ${isLoad(task) ? `${formatMs(valueOf(task, result))} ms` : `${formatInt(valueOf(task, result))} events/s`}\n`,
          );
        }
      }
      process.stderr.write(
        `round ${round + 1}/${ROUNDS} done in ${Math.round((Date.now() - started) / 1000)} s\n`,
      );
    }

    const stats: Partial<Record<SystemId, StorageStats>> = {};
    for (const worker of workers)
      stats[worker.system] = (await worker.request({ kind: 'stats' }, 'stats')).stats;
    for (const worker of workers) await worker.request({ kind: 'teardown' }, 'done');
    // After a teardown the workers exit by themselves (and write their --cpu-prof profiles).
    await Promise.all(workers.map((worker) => worker.close(10_000)));

    const summaries = tasks.map((task) => summarize(task, results.get(task)!));
    const full = results.get('load-full')?.get('potter');
    const fromSnapshot = results.get('load-snapshot')?.get('potter');
    let loadSpeedup: Ratio | null = null;
    if (full && fromSnapshot) {
      const rounds = full.map((r, i) => valueOf('load-full', r) / valueOf('load-snapshot', fromSnapshot[i]!));
      loadSpeedup = {
        ofMedians:
          median(full.map((r) => valueOf('load-full', r))) /
          median(fromSnapshot.map((r) => valueOf('load-snapshot', r))),
        rounds,
        pairedMedian: median(rounds),
      };
    }
    const checks = targets(summaries, loadSpeedup);

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
    };
    const config = {
      rounds: ROUNDS,
      scale: SCALE,
      streamEvents: STREAM_EVENTS,
      payloadJsonChars: PAYLOAD_JSON_CHARS,
      warmupFraction: WARMUP_FRACTION,
      tasks: TASKS,
    };

    const out: string[] = [
      '## Event store on PostgreSQL',
      '',
      `- date: ${environment.date}`,
      `- node: ${environment.node} (V8 ${environment.v8}), ${environment.platform}`,
      `- cpu: ${environment.cpu} × ${environment.cpuCount}, load average at the end ${environment.loadAverageAtEnd.join(' ')}`,
      `- PostgreSQL ${postgres['server_version'] ?? '?'} on the same machine (fsync ${postgres['fsync'] ?? '?'}, synchronous_commit ${postgres['synchronous_commit'] ?? '?'})`,
      `- source: ${environment.source ? `${environment.source.commit.slice(0, 12)}${environment.source.srcDirty ? ' + uncommitted src/ changes' : ''}` : 'unknown'}`,
      ...[...infos.values()].map(
        (i) => `- ${SYSTEM_NAMES[i.system]}: ${i.libraries.join(', ')}; pool ${i.poolSize}`,
      ),
      `- method: one worker process per system; ${ROUNDS} rounds, each task once per system per round, systems` +
        ` rotated; untimed warmup (${WARMUP_FRACTION * 100}% of the calls) before each timed append task; median over rounds`,
      '',
      '### Throughput (events/s, median over rounds)',
      '',
      throughputTable(summaries),
      '',
      '### Reading and loading',
      '',
      loadTable(summaries, loadSpeedup),
      '',
      '### Targets',
      '',
      ...checks.map(
        (t) =>
          `- **${t.met ? 'met' : 'MISSED'}**: ${t.description} — measured ${t.actual.toFixed(t.target >= 10 ? 0 : 3)}× (target ${t.target}×);` +
          ` same-round: median ${t.pairedMedian.toFixed(2)}×, range ${t.pairedMin.toFixed(2)}–${t.pairedMax.toFixed(2)}×` +
          (t.cpuRatio === null ? '' : `; by CPU per event: ${t.cpuRatio.toFixed(2)}×`),
      ),
      '',
      '### CPU time per event (µs, median over rounds)',
      '',
      'Worker process (node) + the PostgreSQL server processes of its connections (from /proc), during the timed part.',
      '',
      cpuTable(summaries),
      '',
      '### Rounds',
      '',
      spreadTable(summaries),
      '',
      '### Stored',
      '',
      storageTable(stats),
    ];
    process.stdout.write(`${out.join('\n')}\n`);

    if (ONLY.length !== TASK_IDS.length || SYSTEMS.length !== SYSTEM_IDS.length || SCALE !== 1) {
      process.stderr.write(
        `partial run (BENCH_ONLY, BENCH_SYSTEMS or BENCH_SCALE): ${RESULTS_FILE} left unchanged\n`,
      );
      return;
    }
    mkdirSync(join(RESULTS_FILE, '..'), { recursive: true });
    const json = {
      ...environment,
      config,
      reference: REFERENCE,
      systems: Object.fromEntries(infos),
      targets: checks,
      snapshotSpeedup: loadSpeedup,
      tasks: summaries,
      raw: Object.fromEntries([...results].map(([task, bySystem]) => [task, Object.fromEntries(bySystem)])),
      storage: stats,
    };
    writeFileSync(RESULTS_FILE, `${JSON.stringify(json, null, 2)}\n`);
    process.stderr.write(`results written to ${RESULTS_FILE}\n`);
  } finally {
    await Promise.all(workers.map((worker) => worker.close(0)));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
