/**
 * Publish → consume throughput and end-to-end latency of Potter's message buses next to the raw
 * drivers doing the same work with the same batching, in one run: Redis Streams (`redis-raw`
 * node-redis v5 vs `redis-potter` `RedisMessageBus`) and Kafka (`kafka-raw` / `kafka-raw-commit`
 * kafkajs vs `kafka-potter` `KafkaMessageBus`). Run with `node build/bench/messaging/messaging.bench.js`
 * after `npm run build`; see bench/RESULTS.md.
 *
 * Method: each variant runs in its own worker process (`bus.worker.ts`; publisher and consumer in
 * that process, one clock), after an untimed warmup run. Each timed run uses a new stream/topic and
 * consumer group (set up untimed) and publishes envelopes in batches of N, one publish call in
 * flight: `throughput` publishes as fast as that allows and is timed from the first publish call
 * to the handler seeing the last message; `latency` publishes at a fixed rate (the same for every
 * variant of a broker, well below its capacity) and reports publish-call-start → handler-start
 * percentiles. ROUNDS rounds; in each, every batch size and phase runs once per variant, the order
 * of a broker's variants rotating. Medians over rounds, with same-round ratios.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { packageVersion } from '../eventstore/worker-runtime';
import {
  VARIANT_IDS,
  brokerOf,
  type Broker,
  type ParentMessage,
  type Phase,
  type RunRequest,
  type RunResult,
  type VariantId,
  type WorkerConfig,
  type WorkerInfo,
  type WorkerMessage,
} from './protocol';
import { median } from './workload';

// ---------------------------------------------------------------------------------------------------
// Configuration

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
  return value;
}

function listFromEnv(name: string, fallback: string): string[] {
  return (process.env[name] || fallback).split(',').filter((item) => item !== '');
}

const REDIS_URL = process.env['POTTER_REDIS_URL'] || 'redis://127.0.0.1:6379';
const KAFKA_BROKERS = listFromEnv('POTTER_KAFKA_BROKERS', '127.0.0.1:9092');
const ROUNDS = numberFromEnv('BENCH_ROUNDS', 3);
const BATCH_SIZES = listFromEnv('BENCH_BATCH_SIZES', '10,100').map((value) => {
  const size = Number(value);
  if (!Number.isInteger(size) || size < 1 || size > 10_000) throw new Error('BENCH_BATCH_SIZES: 1 to 10000');
  return size;
});

interface BrokerPlan {
  /** Messages of a throughput run. */
  messages: number;
  /** Messages of a latency run, and their rate (messages/s). */
  latencyMessages: number;
  rate: number;
  warmupMessages: number;
}

const PLANS: Record<Broker, BrokerPlan> = {
  redis: {
    messages: numberFromEnv('BENCH_REDIS_MESSAGES', 20_000),
    latencyMessages: numberFromEnv('BENCH_REDIS_LATENCY_MESSAGES', 5_000),
    rate: numberFromEnv('BENCH_REDIS_RATE', 5_000),
    warmupMessages: numberFromEnv('BENCH_REDIS_WARMUP', 5_000),
  },
  kafka: {
    messages: numberFromEnv('BENCH_KAFKA_MESSAGES', 10_000),
    latencyMessages: numberFromEnv('BENCH_KAFKA_LATENCY_MESSAGES', 1_000),
    rate: numberFromEnv('BENCH_KAFKA_RATE', 500),
    warmupMessages: numberFromEnv('BENCH_KAFKA_WARMUP', 2_000),
  },
};

/** `potter/kafka` is built (the Kafka adapter's entry point exists). */
function kafkaBusAvailable(): boolean {
  try {
    require.resolve('potter/kafka');
    return true;
  } catch {
    return false;
  }
}

const REQUESTED = ((): VariantId[] => {
  const ids = listFromEnv('BENCH_VARIANTS', VARIANT_IDS.join(','));
  for (const id of ids)
    if (!VARIANT_IDS.includes(id as VariantId))
      throw new Error(`BENCH_VARIANTS: unknown id "${id}" (known: ${VARIANT_IDS.join(', ')})`);
  return VARIANT_IDS.filter((id) => ids.includes(id));
})();
const KAFKA_BUS = kafkaBusAvailable();
const VARIANTS = REQUESTED.filter((id) => id !== 'kafka-potter' || KAFKA_BUS);
const BROKERS = (['redis', 'kafka'] as const).filter((broker) =>
  VARIANTS.some((v) => brokerOf(v) === broker),
);
/** Target: Potter's throughput at least this fraction of the raw driver's with the same batching. */
const TARGET = 0.9;

const DEFAULT_RUN =
  ROUNDS >= 3 &&
  VARIANTS.length === VARIANT_IDS.length &&
  BATCH_SIZES.join(',') === '10,100' &&
  process.env['BENCH_REDIS_MESSAGES'] === undefined &&
  process.env['BENCH_KAFKA_MESSAGES'] === undefined;

const VARIANT_NAMES: Record<VariantId, string> = {
  'redis-raw': 'raw node-redis (pipelined XADD, XREADGROUP + XACK)',
  'redis-potter': 'Potter RedisMessageBus',
  'kafka-raw': 'raw kafkajs (eachMessage, auto-commit per batch)',
  'kafka-raw-commit': 'raw kafkajs (eachMessage, commit per message)',
  'kafka-potter': 'Potter KafkaMessageBus',
};
const RAW_OF: Record<Broker, VariantId> = { redis: 'redis-raw', kafka: 'kafka-raw' };

/** bench/results/, from build/bench/messaging/ where this file runs once compiled. */
const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'messaging.json');

// ---------------------------------------------------------------------------------------------------
// Workers

class Worker {
  readonly #child: ChildProcess;
  #pending: { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void } | undefined;
  #exited: Error | undefined;

  constructor(readonly variant: VariantId) {
    this.#child = fork(join(__dirname, 'bus.worker.js'), [variant], {
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

const throughputOf = (r: RunResult): number => (r.received * 1000) / r.elapsedMs;

interface Ratio {
  ofMedians: number;
  rounds: number[];
  pairedMedian: number;
}

interface VariantSummary {
  median: number;
  rounds: number[];
  min: number;
  max: number;
  /** Publish calls alone: messages / time until the last publish call resolved, median. */
  publishRate: number;
  /** Median per-round percentiles, ms. */
  p50: number;
  p99: number;
  nodeCpuUs: number;
  serverCpuUs: number | null;
  /** Median Redis commands per 1,000 messages, by command. */
  commandsPer1000: Record<string, number> | null;
  duplicates: number;
}

interface CellSummary {
  broker: Broker;
  phase: Phase;
  batchSize: number;
  variants: Partial<Record<VariantId, VariantSummary>>;
  vsRaw: Partial<Record<VariantId, Ratio>>;
}

function summarizeVariant(list: RunResult[]): VariantSummary {
  const rounds = list.map(throughputOf);
  const server = list.map((r) => (r.serverCpuMs === null ? null : (r.serverCpuMs * 1000) / r.received));
  let commandsPer1000: Record<string, number> | null = null;
  if (list.every((r) => r.commands !== null)) {
    commandsPer1000 = {};
    const names = new Set(list.flatMap((r) => Object.keys(r.commands!)));
    for (const name of names)
      commandsPer1000[name] = median(list.map((r) => ((r.commands![name] ?? 0) * 1000) / r.received));
  }
  return {
    median: median(rounds),
    rounds,
    min: Math.min(...rounds),
    max: Math.max(...rounds),
    publishRate: median(list.map((r) => (r.messages * 1000) / r.publishMs)),
    p50: median(list.map((r) => r.latency.p50)),
    p99: median(list.map((r) => r.latency.p99)),
    nodeCpuUs: median(list.map((r) => (r.nodeCpuMs * 1000) / r.received)),
    serverCpuUs: server.every((v) => v !== null) ? median(server as number[]) : null,
    commandsPer1000,
    duplicates: list.reduce((sum, r) => sum + r.duplicates, 0),
  };
}

function summarizeCell(
  broker: Broker,
  phase: Phase,
  batchSize: number,
  results: Map<VariantId, RunResult[]>,
): CellSummary {
  const variants: Partial<Record<VariantId, VariantSummary>> = {};
  for (const [variant, list] of results) variants[variant] = summarizeVariant(list);
  const vsRaw: Partial<Record<VariantId, Ratio>> = {};
  const raw = results.get(RAW_OF[broker])?.map(throughputOf);
  if (raw) {
    for (const [variant, list] of results) {
      if (variant === RAW_OF[broker]) continue;
      const x = list.map(throughputOf);
      const rounds = x.map((v, i) => v / raw[i]!);
      vsRaw[variant] = { ofMedians: median(x) / median(raw), rounds, pairedMedian: median(rounds) };
    }
  }
  return { broker, phase, batchSize, variants, vsRaw };
}

// ---------------------------------------------------------------------------------------------------
// Report

const formatInt = (value: number): string => Math.round(value).toLocaleString('en-US');
const formatMs = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toPrecision(3));
const formatUs = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toPrecision(3));
const signedMs = (value: number): string => `${value >= 0 ? '+' : '−'}${formatMs(Math.abs(value))}`;

function variantsOf(broker: Broker): VariantId[] {
  return VARIANTS.filter((v) => brokerOf(v) === broker);
}

function throughputTable(cells: CellSummary[], broker: Broker): string {
  const lines = [
    '| variant | batch | median msg/s | vs raw | same-round vs raw | rounds (msg/s) | publish calls alone (msg/s) | p50 / p99 ms (saturated) | CPU µs/msg: node' +
      (broker === 'redis' ? ' + Redis server' : '') +
      ' |',
    '| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |',
  ];
  for (const cell of cells) {
    if (cell.broker !== broker || cell.phase !== 'throughput') continue;
    for (const variant of variantsOf(broker)) {
      const v = cell.variants[variant];
      if (!v) continue;
      const ratio = cell.vsRaw[variant];
      const cpu =
        v.serverCpuUs === null
          ? formatUs(v.nodeCpuUs)
          : `${formatUs(v.nodeCpuUs)} + ${formatUs(v.serverCpuUs)}`;
      lines.push(
        `| ${VARIANT_NAMES[variant]} | ${cell.batchSize} | ${formatInt(v.median)} | ${ratio ? `${ratio.ofMedians.toFixed(2)}×` : '1.00×'} | ${ratio ? ratio.rounds.map((x) => `${x.toFixed(2)}×`).join(', ') : '—'} | ${v.rounds.map(formatInt).join(', ')} | ${formatInt(v.publishRate)} | ${formatMs(v.p50)} / ${formatMs(v.p99)} | ${cpu} |`,
      );
    }
  }
  return lines.join('\n');
}

function latencyTable(cells: CellSummary[], broker: Broker): string {
  const plan = PLANS[broker];
  const lines = [
    `| variant | batch | p50 ms | p99 ms | p50 overhead vs raw | p99 overhead vs raw | CPU µs/msg at ${formatInt(plan.rate)} msg/s |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const cell of cells) {
    if (cell.broker !== broker || cell.phase !== 'latency') continue;
    const raw = cell.variants[RAW_OF[broker]];
    for (const variant of variantsOf(broker)) {
      const v = cell.variants[variant];
      if (!v) continue;
      const isRaw = variant === RAW_OF[broker];
      lines.push(
        `| ${VARIANT_NAMES[variant]} | ${cell.batchSize} | ${formatMs(v.p50)} | ${formatMs(v.p99)} | ${isRaw || !raw ? '—' : signedMs(v.p50 - raw.p50)} | ${isRaw || !raw ? '—' : signedMs(v.p99 - raw.p99)} | ${formatUs(v.nodeCpuUs)} |`,
      );
    }
  }
  return lines.join('\n');
}

function commandsTable(cells: CellSummary[]): string {
  const lines = [
    '| variant | batch | Redis commands per 1,000 messages (throughput runs, median) |',
    '| --- | ---: | --- |',
  ];
  for (const cell of cells) {
    if (cell.broker !== 'redis' || cell.phase !== 'throughput') continue;
    for (const variant of variantsOf('redis')) {
      const commands = cell.variants[variant]?.commandsPer1000;
      if (!commands) continue;
      const text = Object.entries(commands)
        .filter(([, count]) => count >= 0.05)
        .sort(([, a], [, b]) => b - a)
        .map(([name, count]) => `${name} ${count.toFixed(count >= 10 ? 0 : 1)}`)
        .join(', ');
      lines.push(`| ${VARIANT_NAMES[variant]} | ${cell.batchSize} | ${text} |`);
    }
  }
  return lines.join('\n');
}

function targetLines(cells: CellSummary[]): string[] {
  const lines: string[] = [];
  for (const cell of cells) {
    if (cell.phase !== 'throughput') continue;
    const potter = cell.broker === 'redis' ? 'redis-potter' : 'kafka-potter';
    const ratio = cell.vsRaw[potter];
    if (!ratio) continue;
    const met = ratio.ofMedians >= TARGET;
    lines.push(
      `- ${cell.broker}, batch ${cell.batchSize}: Potter ${ratio.ofMedians.toFixed(2)}× raw (same-round median ${ratio.pairedMedian.toFixed(2)}×, range ${Math.min(...ratio.rounds).toFixed(2)}–${Math.max(...ratio.rounds).toFixed(2)}×): target ≥ ${TARGET}× **${met ? 'met' : 'missed'}**`,
    );
  }
  return lines;
}

function sourceRevision(): { commit: string; srcDirty: boolean } | null {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const runStarted = performance.now();
  const loadBefore = loadavg();
  if (REQUESTED.includes('kafka-potter') && !KAFKA_BUS)
    process.stderr.write('potter/kafka is not built: the kafka-potter variant is skipped\n');
  const workers = VARIANTS.map((variant) => new Worker(variant));
  const prefix = `bench-msg-${Date.now().toString(36)}`;
  const all: RunResult[] = [];
  const infos = new Map<VariantId, WorkerInfo>();
  try {
    for (const worker of workers) {
      const plan = PLANS[brokerOf(worker.variant)];
      const config: WorkerConfig = {
        redisUrl: REDIS_URL,
        kafkaBrokers: KAFKA_BROKERS,
        prefix,
        warmupMessages: plan.warmupMessages,
        runTimeoutMs: 120_000,
      };
      process.stderr.write(`setting up ${worker.variant}…\n`);
      const { info } = await worker.request({ kind: 'setup', config }, 'ready');
      infos.set(worker.variant, info);
    }
    const byId = new Map(workers.map((w) => [w.variant, w]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const broker of BROKERS) {
        const plan = PLANS[broker];
        const ids = variantsOf(broker);
        const order = ids.map((_, i) => ids[(i + round - 1) % ids.length]!);
        for (const batchSize of BATCH_SIZES) {
          for (const phase of ['throughput', 'latency'] as const) {
            for (const variant of order) {
              const request: RunRequest = {
                phase,
                batchSize,
                round,
                messages: phase === 'throughput' ? plan.messages : plan.latencyMessages,
                rate: phase === 'throughput' ? 0 : plan.rate,
              };
              const { result } = await byId.get(variant)!.request({ kind: 'run', run: request }, 'result');
              all.push(result);
              process.stderr.write(
                `round ${round} ${variant} b${batchSize} ${phase}: ${formatInt(throughputOf(result))} msg/s, p50 ${formatMs(result.latency.p50)} ms, p99 ${formatMs(result.latency.p99)} ms\n`,
              );
            }
          }
        }
      }
    }
  } finally {
    await Promise.allSettled(workers.map((w) => w.request({ kind: 'teardown' }, 'done')));
    await Promise.all(workers.map((w) => w.close(10_000)));
  }

  const cells: CellSummary[] = [];
  for (const broker of BROKERS)
    for (const batchSize of BATCH_SIZES)
      for (const phase of ['throughput', 'latency'] as const) {
        const results = new Map<VariantId, RunResult[]>();
        for (const variant of variantsOf(broker)) {
          const list = all.filter(
            (r) => r.variant === variant && r.batchSize === batchSize && r.phase === phase,
          );
          if (list.length > 0)
            results.set(
              variant,
              list.sort((a, b) => a.round - b.round),
            );
        }
        cells.push(summarizeCell(broker, phase, batchSize, results));
      }

  const environment = {
    date: new Date().toISOString(),
    node: `${process.version} (V8 ${process.versions.v8}), ${platform()} ${arch()}`,
    cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadavg(),
    source: sourceRevision(),
    libraries: { redis: packageVersion('redis'), kafkajs: packageVersion('kafkajs') },
    durationS: Math.round((performance.now() - runStarted) / 1000),
  };
  const report = [
    `## Message buses: publish → consume (\`bench/messaging\`)`,
    '',
    `- date: ${environment.date}, node ${environment.node}, ${environment.cpu}`,
    `- load average before/after: ${loadBefore.map((x) => x.toFixed(2)).join(', ')} / ${environment.loadAverageAfter.map((x) => x.toFixed(2)).join(', ')}; run took ${environment.durationS} s`,
    `- ${ROUNDS} rounds; throughput runs: Redis ${formatInt(PLANS.redis.messages)}, Kafka ${formatInt(PLANS.kafka.messages)} messages; latency runs: Redis ${formatInt(PLANS.redis.latencyMessages)} at ${formatInt(PLANS.redis.rate)} msg/s, Kafka ${formatInt(PLANS.kafka.latencyMessages)} at ${formatInt(PLANS.kafka.rate)} msg/s`,
    KAFKA_BUS || !REQUESTED.includes('kafka-potter') ? '' : '- potter/kafka not built: no Potter Kafka row',
    '',
    ...BROKERS.flatMap((broker) => [
      `### ${broker === 'redis' ? 'Redis Streams' : 'Kafka'}: throughput (one publish call in flight, as fast as possible)`,
      '',
      throughputTable(cells, broker),
      '',
      `### ${broker === 'redis' ? 'Redis Streams' : 'Kafka'}: end-to-end latency at a fixed ${formatInt(PLANS[broker].rate)} msg/s (publish call start → handler start)`,
      '',
      latencyTable(cells, broker),
      '',
    ]),
    ...(BROKERS.includes('redis') ? ['### Redis commands', '', commandsTable(cells), ''] : []),
    '### Targets (throughput ≥ 0.9× raw, same batching)',
    '',
    ...targetLines(cells),
    '',
  ].join('\n');
  process.stdout.write(report);

  const resultsFile = process.env['BENCH_RESULTS_FILE'] || (DEFAULT_RUN ? RESULTS_FILE : undefined);
  if (resultsFile) {
    mkdirSync(join(resultsFile, '..'), { recursive: true });
    writeFileSync(
      resultsFile,
      `${JSON.stringify(
        {
          benchmark: 'messaging',
          environment,
          config: {
            rounds: ROUNDS,
            batchSizes: BATCH_SIZES,
            plans: PLANS,
            redisUrl: REDIS_URL,
            kafkaBrokers: KAFKA_BROKERS,
          },
          variants: Object.fromEntries(
            [...infos].map(([id, info]) => [id, { name: VARIANT_NAMES[id], ...info }]),
          ),
          summary: cells,
          runs: all,
        },
        null,
        2,
      )}\n`,
    );
    process.stderr.write(`results written to ${resultsFile}\n`);
  } else {
    process.stderr.write('not a default run: bench/results/messaging.json not written\n');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
