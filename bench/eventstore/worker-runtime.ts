/**
 * The side of a worker process that is the same for every system: it receives `setup`, `run`,
 * `stats` and `teardown` from the orchestrator, runs the workloads against the system's
 * {@link StoreUnderTest}, times them and checks what they did. One process per system, so each
 * system runs with only its own libraries loaded (Emmett's driver layer, for one, replaces `pg`'s
 * global type parsers for `int8` and `jsonb`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type {
  AppendSpec,
  ParentMessage,
  ReadSpec,
  StorageStats,
  SystemId,
  TaskId,
  TaskResult,
  WorkerConfig,
  WorkerInfo,
  WorkerMessage,
} from './protocol';
import {
  SEEDED_AGGREGATE_ID,
  SEEDED_STREAM_ID,
  checkState,
  expectedState,
  planAppends,
  planSeed,
  type BenchEvent,
  type OrderState,
  type PlannedCall,
} from './workload';

/** One system, as the workloads see it. */
export interface StoreUnderTest {
  /** Libraries, pool size, notes and the tasks it takes part in. */
  readonly info: Omit<WorkerInfo, 'system' | 'setupMs'>;
  /**
   * Appends `events` to a stream whose current version is `version` (0 = new stream), checking
   * that version the way the system does (the raw baseline does not check), and returns the
   * stream's new version as the system reports it.
   */
  append(streamId: string, events: readonly BenchEvent[], version: number): Promise<number>;
  /** Reads a whole stream and folds it into an {@link OrderState}. */
  readAndFold(streamId: string): Promise<OrderState>;
  /** Loads the seeded aggregate (full replay, or from its snapshot), for the `load-*` tasks. */
  loadAggregate?(aggregateId: string, fromSnapshot: boolean): Promise<OrderState>;
  /** Called once the seeded stream is written (to take its snapshot). */
  afterSeed?(): Promise<void>;
  stats(): Promise<StorageStats>;
  close(): Promise<void>;
}

export type StoreFactory = (config: WorkerConfig) => Promise<StoreUnderTest>;

const gc = (globalThis as { gc?: () => void }).gc;

/** CPU time of this process and of the server processes of the system's connections. */
class CpuMeter {
  readonly #client: Client;
  readonly #applicationName: string;
  readonly #ticksPerSecond: number;
  #readable = true;

  constructor(connectionString: string, applicationName: string) {
    this.#client = new Client({ connectionString, application_name: `${applicationName}_meter` });
    this.#applicationName = applicationName;
    let ticks = 100;
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // keep the usual 100 Hz
    }
    this.#ticksPerSecond = ticks;
  }

  async connect(): Promise<void> {
    await this.#client.connect();
  }

  async sample(): Promise<{ node: NodeJS.CpuUsage; pg: Map<number, number> | null }> {
    const pg = await this.#backends();
    return { node: process.cpuUsage(), pg };
  }

  /** ms of CPU since `before` (the server's share is `null` when /proc cannot be read). */
  async since(before: { node: NodeJS.CpuUsage; pg: Map<number, number> | null }): Promise<{
    nodeCpuMs: number;
    pgCpuMs: number | null;
  }> {
    const node = process.cpuUsage(before.node);
    const after = await this.#backends();
    let pgCpuMs: number | null = null;
    if (before.pg && after) {
      pgCpuMs = 0;
      // Backends that started during the run count from zero.
      for (const [pid, ms] of after) pgCpuMs += ms - (before.pg.get(pid) ?? 0);
    }
    return { nodeCpuMs: (node.user + node.system) / 1000, pgCpuMs };
  }

  close(): Promise<void> {
    return this.#client.end();
  }

  async #backends(): Promise<Map<number, number> | null> {
    if (!this.#readable) return null;
    const { rows } = await this.#client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [this.#applicationName],
    );
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ENOENT') continue; // ended meanwhile
        this.#readable = false; // another machine, or no permission
        return null;
      }
      // Fields after "(comm) ": state is [0], utime [11], stime [12], in clock ticks.
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      cpu.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / this.#ticksPerSecond);
    }
    return cpu;
  }
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new Error('this file runs as a worker of eventstore.bench.js (forked with an IPC channel)'));
      return;
    }
    process.send(message, undefined, {}, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

/** Runs planned calls, the writers concurrently, each writer's calls one after the other. */
async function runCalls(
  store: StoreUnderTest,
  writers: PlannedCall[][],
): Promise<{ elapsedMs: number; versions: Map<string, number> }> {
  const versions = new Map<string, number>();
  const started = performance.now();
  await Promise.all(
    writers.map(async (calls) => {
      for (const call of calls) {
        const version = versions.get(call.streamId) ?? 0;
        versions.set(call.streamId, await store.append(call.streamId, call.events, version));
      }
    }),
  );
  return { elapsedMs: performance.now() - started, versions };
}

/** Checks every stream ended at the version its planned events imply. */
function checkVersions(label: string, writers: PlannedCall[][], versions: Map<string, number>): void {
  const expected = new Map<string, number>();
  for (const calls of writers)
    for (const call of calls)
      expected.set(call.streamId, (expected.get(call.streamId) ?? 0) + call.events.length);
  for (const [streamId, version] of expected) {
    const actual = versions.get(streamId);
    if (actual !== version)
      throw new Error(`${label}: ${streamId} ended at version ${actual}, expected ${version}`);
  }
}

function countEvents(writers: PlannedCall[][]): number {
  let events = 0;
  for (const calls of writers) for (const call of calls) events += call.events.length;
  return events;
}

/** Untimed calls of the same shape on other streams (JIT, pool connections, query plans). */
async function appendWarmup(
  store: StoreUnderTest,
  config: WorkerConfig,
  task: TaskId,
  spec: AppendSpec,
  label: string,
): Promise<void> {
  const calls = Math.max(spec.streamsPerWriter, Math.ceil(spec.callsPerWriter * config.warmupFraction));
  const writers = planAppends(spec, `${label}-${task}`, calls);
  checkVersions(`${task} warmup`, writers, (await runCalls(store, writers)).versions);
}

async function appendTask(
  store: StoreUnderTest,
  meter: CpuMeter,
  config: WorkerConfig,
  task: TaskId,
  spec: AppendSpec,
  round: number,
): Promise<TaskResult> {
  await appendWarmup(store, config, task, spec, `warm${round}`);
  const writers = planAppends(spec, `r${round}-${task}`, spec.callsPerWriter);
  gc?.();
  const before = await meter.sample();
  const { elapsedMs, versions } = await runCalls(store, writers);
  const cpu = await meter.since(before);
  checkVersions(task, writers, versions);
  return {
    task,
    round,
    elapsedMs,
    events: countEvents(writers),
    operations: spec.writers * spec.callsPerWriter,
    ...cpu,
  };
}

async function readTask(
  store: StoreUnderTest,
  meter: CpuMeter,
  config: WorkerConfig,
  task: TaskId,
  spec: ReadSpec,
  round: number,
): Promise<TaskResult> {
  const expected = expectedState(config.streamEvents);
  let once: () => Promise<OrderState>;
  if (spec.kind === 'read-fold') {
    once = () => store.readAndFold(SEEDED_STREAM_ID);
  } else {
    const load = store.loadAggregate?.bind(store);
    if (!load) throw new Error(`${task}: this system has no aggregate loading`);
    const fromSnapshot = spec.kind === 'load-snapshot';
    once = () => load(SEEDED_AGGREGATE_ID, fromSnapshot);
  }
  checkState(`${task} warmup`, await once(), expected);
  gc?.();
  const before = await meter.sample();
  const started = performance.now();
  const states: OrderState[] = [];
  for (let i = 0; i < spec.repetitions; i++) states.push(await once());
  const elapsedMs = performance.now() - started;
  const cpu = await meter.since(before);
  for (const state of states) checkState(task, state, expected);
  return {
    task,
    round,
    elapsedMs,
    events: spec.repetitions * config.streamEvents,
    operations: spec.repetitions,
    ...cpu,
  };
}

/** The installed version of a package (found from its resolved entry point), for the report. */
export function packageVersion(name: string): string {
  try {
    for (let dir = dirname(require.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? 'unknown';
    }
  } catch {
    // not resolvable from here
  }
  return 'unknown';
}

/**
 * Holds a session advisory lock for the whole run, so two runs on one server never share (and
 * drop) each other's schemas, nor measure each other.
 */
export async function lockBenchRun(client: Client): Promise<void> {
  const key = `hashtext('potter.bench.eventstore')`;
  const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${key}) AS locked`);
  if (rows[0]?.locked) return;
  process.stderr.write(
    'another eventstore benchmark (or append-breakdown) is running on this server: waiting for it to end\n',
  );
  await client.query(`SELECT pg_advisory_lock(${key})`);
}

/** Drops and re-creates the system's schema. */
export async function resetSchema(connectionString: string, schema: string): Promise<void> {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.query(`CREATE SCHEMA "${schema}"`);
  } finally {
    await client.end();
  }
}

export async function dropSchema(connectionString: string, schema: string): Promise<void> {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Row count, average payload and metadata sizes of an event table, and the sizes of the schema's
 * tables, on a connection of its own (with `pg`'s default type parsers for this client only).
 */
export async function storageStats(
  connectionString: string,
  schema: string,
  eventTable: { name: string; payload: string; metadata: string },
): Promise<StorageStats> {
  const client = new Client({
    connectionString,
    // Sizes come back as int8/numeric: text is enough here, whatever parsers the process installed.
    types: { getTypeParser: () => (value: string) => value },
  });
  await client.connect();
  try {
    const { rows: totals } = await client.query<{ events: string; payload: string; metadata: string }>(
      `SELECT count(*) AS events, coalesce(avg(length(${eventTable.payload}::text)), 0) AS payload,
              coalesce(avg(length(${eventTable.metadata}::text)), 0) AS metadata
         FROM "${schema}".${eventTable.name}`,
    );
    const { rows: tables } = await client.query<{ name: string; rows: string; bytes: string }>(
      `SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r'
        ORDER BY pg_total_relation_size(c.oid) DESC`,
      [schema],
    );
    const { rows: indexes } = await client.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY tablename, indexname`,
      [schema],
    );
    const total = totals[0]!;
    const parsedTables = tables.map((t) => ({ name: t.name, rows: Number(t.rows), bytes: Number(t.bytes) }));
    return {
      events: Number(total.events),
      avgPayloadChars: Number(total.payload),
      avgMetadataChars: Number(total.metadata),
      schemaBytes: parsedTables.reduce((sum, t) => sum + t.bytes, 0),
      tables: parsedTables,
      indexes: indexes.map((i) => i.indexdef),
    };
  } finally {
    await client.end();
  }
}

/** Serves the orchestrator's requests for one system until `teardown`. */
export function serve(system: SystemId, factory: StoreFactory): void {
  let store: StoreUnderTest | undefined;
  let config: WorkerConfig | undefined;
  let meter: CpuMeter | undefined;

  const handle = async (message: ParentMessage): Promise<WorkerMessage> => {
    switch (message.kind) {
      case 'setup': {
        const started = performance.now();
        config = message.config;
        await resetSchema(config.connectionString, config.schema);
        meter = new CpuMeter(config.connectionString, config.applicationName);
        await meter.connect();
        store = await factory(config);
        // The seeded stream, in batches of 100, then one untimed pass of every task.
        await runCalls(store, [planSeed(config.streamEvents, 100)]);
        await store.afterSeed?.();
        for (const task of store.info.tasks.filter((t) => config!.only.includes(t))) {
          const spec = config.tasks[task];
          if (spec.kind === 'append') await appendWarmup(store, config, task, spec, 'setup');
          else await readTask(store, meter, config, task, { ...spec, repetitions: 1 }, -1);
        }
        const info: WorkerInfo = { ...store.info, system, setupMs: performance.now() - started };
        return { kind: 'ready', info };
      }
      case 'run': {
        if (!store || !config || !meter) throw new Error('run before setup');
        const spec = config.tasks[message.task];
        const result =
          spec.kind === 'append'
            ? await appendTask(store, meter, config, message.task, spec, message.round)
            : await readTask(store, meter, config, message.task, spec, message.round);
        return { kind: 'result', result };
      }
      case 'stats':
        if (!store) throw new Error('stats before setup');
        return { kind: 'stats', stats: await store.stats() };
      case 'teardown':
        if (store) await store.close();
        if (meter) await meter.close();
        if (config) await dropSchema(config.connectionString, config.schema);
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
