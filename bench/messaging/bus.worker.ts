/**
 * One variant of the messaging benchmark per process (forked by `messaging.bench.ts`):
 *
 * - `redis-raw`: node-redis v5 — publish: one `multi().xAdd(…)…execAsPipeline()` per batch (one
 *   round trip); consume: `XREADGROUP … COUNT <batch> BLOCK 2000` on a second connection, `JSON.parse`
 *   of each body, the handler, then one `XACK` of the batch's ids (not awaited before the next read).
 * - `redis-potter`: Potter's `RedisMessageBus` (`potter/redis`), `batchSize: <batch>`, `publish` +
 *   `subscribe` (concurrency 1, no key).
 * - `kafka-raw`: kafkajs — publish: `producer.send` of the batch (idempotent producer, `acks: -1`,
 *   one request in flight, as Potter's); consume: `consumer.run({ eachMessage })` (what Potter's
 *   adapter uses) with kafkajs's default auto-commit (resolved offsets committed after each fetched
 *   batch), `JSON.parse` of each value, the handler.
 * - `kafka-raw-commit`: as `kafka-raw`, but `autoCommit: false` and an awaited `commitOffsets` after
 *   each message — the commit policy of Potter's adapter, done by hand (isolates its cost).
 * - `kafka-potter`: Potter's `KafkaMessageBus` (`potter/kafka`), `partitions: 1`.
 *
 * Publisher and consumer live in the same process (one clock for the latency): each run gets a new
 * stream/topic and consumer group (set up untimed), publishes `messages` envelopes in batches of
 * `batchSize` with one publish call in flight — as fast as it can (`throughput`) or at a fixed
 * rate (`latency`) — and ends when the handler has seen every sequence number.
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import type * as KafkaJS from 'kafkajs';
import { jsonCodec, type MessageBus, type MessageCodec, type MessageEnvelope } from 'potter';
import { RedisMessageBus } from 'potter/redis';
import type * as Redis from 'redis';
import { packageVersion } from '../eventstore/worker-runtime';
import {
  VARIANT_IDS,
  brokerOf,
  type ParentMessage,
  type RunRequest,
  type RunResult,
  type VariantId,
  type WorkerConfig,
  type WorkerInfo,
  type WorkerMessage,
} from './protocol';
import { makeBatch, stamp, summarizeLatencies, type BenchPayload } from './workload';

/* eslint-disable @typescript-eslint/no-require-imports -- drivers and optional entry points, loaded by the variant that needs them */
const loadRedis = (): typeof Redis => require('redis') as typeof Redis;
const loadKafkajs = (): typeof KafkaJS => require('kafkajs') as typeof KafkaJS;
/* eslint-enable @typescript-eslint/no-require-imports */

const gc = (globalThis as { gc?: () => void }).gc;
const GROUP = 'bench';
const CONTENT_TYPE = 'application/json';

type RedisClient = ReturnType<typeof Redis.createClient>;
type OnMessage = (payload: BenchPayload) => void;

/** A stream/topic with a subscribed consumer group, for one run. */
interface Channel {
  publish(batch: MessageEnvelope<BenchPayload>[]): Promise<void>;
  /** Stops consuming and removes what the run created. */
  stop(): Promise<void>;
}

interface Variant {
  info: Omit<WorkerInfo, 'variant' | 'setupMs'>;
  open(batchSize: number, name: string, onMessage: OnMessage): Promise<Channel>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// Redis

/** Redis server CPU (INFO cpu) and command counts (INFO commandstats), for the run's accounting. */
class RedisMeter {
  constructor(readonly client: RedisClient) {}

  async sample(): Promise<{ cpuMs: number; calls: Map<string, number> }> {
    const [cpu, stats] = await Promise.all([this.client.info('cpu'), this.client.info('commandstats')]);
    const field = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(cpu)?.[1] ?? 0);
    const calls = new Map<string, number>();
    for (const match of stats.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm))
      calls.set(match[1]!, Number(match[2]));
    return { cpuMs: (field('used_cpu_sys') + field('used_cpu_user')) * 1000, calls };
  }

  static delta(
    before: { cpuMs: number; calls: Map<string, number> },
    after: { cpuMs: number; calls: Map<string, number> },
  ): { serverCpuMs: number; commands: Record<string, number> } {
    const commands: Record<string, number> = {};
    for (const [name, calls] of after.calls) {
      const delta = calls - (before.calls.get(name) ?? 0);
      // INFO itself and the client's connection handshake are not the run's work.
      if (delta > 0 && name !== 'info' && !name.startsWith('client') && name !== 'hello')
        commands[name] = delta;
    }
    return { serverCpuMs: after.cpuMs - before.cpuMs, commands };
  }
}

async function redisRawVariant(config: WorkerConfig, admin: RedisClient): Promise<Variant> {
  const redis = loadRedis();
  return {
    info: {
      libraries: [`redis ${packageVersion('redis')}`],
      notes: [
        "publish: multi().xAdd(stream, '*', { body: JSON.stringify(envelope), 'content-type' })… .execAsPipeline() per batch (client.xAdd for a batch of 1)",
        "consume: a duplicate() connection loops xReadGroup(group, consumer, { key, id: '>' }, { COUNT: batch, BLOCK: 2000 }); JSON.parse(body) → handler; one xAck(stream, group, ids) per read, not awaited before the next read",
      ],
    },
    async open(batchSize, name, onMessage) {
      const client = redis.createClient({ url: config.redisUrl });
      client.on('error', () => undefined);
      await client.connect();
      const blocking = client.duplicate();
      blocking.on('error', () => undefined);
      await blocking.connect();
      await client.xGroupCreate(name, GROUP, '0', { MKSTREAM: true });
      const consumer = `raw-${randomUUID()}`;
      let stopped = false;
      const acks: Promise<unknown>[] = [];
      type Reply = { name: string; messages: { id: string; message: Record<string, string> }[] }[];
      const loop = (async () => {
        while (!stopped) {
          let reply: Reply | null;
          try {
            reply = (await blocking.xReadGroup(
              GROUP,
              consumer,
              { key: name, id: '>' },
              { COUNT: batchSize, BLOCK: 2000 },
            )) as unknown as Reply | null;
          } catch (error) {
            if (stopped) return;
            throw error;
          }
          if (reply === null) continue;
          for (const { name: stream, messages: entries } of reply) {
            const ids = new Array<string>(entries.length);
            for (let i = 0; i < entries.length; i++) {
              const entry = entries[i]!;
              const envelope = JSON.parse(entry.message['body']!) as MessageEnvelope<BenchPayload>;
              onMessage(envelope.payload);
              ids[i] = entry.id;
            }
            acks.push(client.xAck(stream, GROUP, ids));
          }
        }
      })();
      loop.catch(() => undefined);
      return {
        async publish(batch) {
          if (batch.length === 1) {
            await client.xAdd(name, '*', { body: JSON.stringify(batch[0]), 'content-type': CONTENT_TYPE });
            return;
          }
          const multi = client.multi();
          for (const envelope of batch) {
            multi.xAdd(name, '*', { body: JSON.stringify(envelope), 'content-type': CONTENT_TYPE });
          }
          await multi.execAsPipeline();
        },
        async stop() {
          stopped = true;
          await Promise.all(acks);
          blocking.destroy();
          await loop.catch((error: unknown) => {
            if (!stopped) throw error;
          });
          await client.close();
          await admin.del([name, `${name}.dlq`]);
        },
      };
    },
    close: async () => undefined,
  };
}

/**
 * Diagnostic (`BENCH_DIAG_TEXT_BODY=1`, never recorded): Potter's JSON codec, except that `encode`
 * returns the JSON text instead of its UTF-8 bytes — node-redis then writes each XADD as one string
 * chunk instead of string + Buffer + string (see RESULTS.md).
 */
const TEXT_BODY_EXPERIMENT = process.env['BENCH_DIAG_TEXT_BODY'] === '1';
function textBodyCodec(): MessageCodec {
  return { ...jsonCodec, encode: (envelope) => JSON.stringify(envelope) as unknown as Buffer };
}

async function redisPotterVariant(config: WorkerConfig, admin: RedisClient): Promise<Variant> {
  return {
    info: {
      libraries: [`potter ${packageVersion('potter')} (this checkout)`, `redis ${packageVersion('redis')}`],
      notes: [
        'new RedisMessageBus({ url, batchSize: batch }) per run (defaults otherwise: 1 partition, blockMs 2000, JSON codec)',
        'bus.publish(stream, batch); bus.subscribe(stream, group, handler) (concurrency 1, fromBeginning), handler reads message.envelope.payload',
      ],
    },
    async open(batchSize, name, onMessage) {
      const bus = new RedisMessageBus({
        url: config.redisUrl,
        batchSize,
        ...(TEXT_BODY_EXPERIMENT ? { codec: textBodyCodec() } : {}),
      });
      await bus.subscribe(name, GROUP, (message) => {
        onMessage(message.envelope.payload as unknown as BenchPayload);
      });
      return {
        publish: (batch) => bus.publish(name, batch),
        async stop() {
          await bus.close();
          await admin.del([name, `${name}.dlq`]);
        },
      };
    },
    close: async () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------------
// Kafka

const KAFKA_CONSUMER = { sessionTimeout: 30_000, heartbeatInterval: 500, maxWaitTimeInMs: 500 };

function waitForJoin(consumer: KafkaJS.Consumer): Promise<void> {
  return new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
}

async function kafkaRawVariant(config: WorkerConfig, commitEach: boolean): Promise<Variant> {
  const kafkajs = loadKafkajs();
  const kafka = new kafkajs.Kafka({
    brokers: config.kafkaBrokers,
    clientId: 'potter-bench-raw',
    logLevel: kafkajs.logLevel.ERROR,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
  });
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  const topics: string[] = [];
  return {
    info: {
      libraries: [`kafkajs ${packageVersion('kafkajs')}`],
      notes: [
        'producer({ idempotent: true, maxInFlightRequests: 1 }).send({ topic, acks: -1, messages: batch of { key: null, value: JSON.stringify(envelope), headers: { content-type } } })',
        commitEach
          ? 'consumer.run({ autoCommit: false, eachMessage }): JSON.parse(value) → handler, then await consumer.commitOffsets([offset + 1]) — per message, like Potter'
          : 'consumer.run({ eachMessage }) with default auto-commit (offsets resolved by eachMessage committed after each fetched batch): JSON.parse(value) → handler',
        'topic created with 1 partition (admin.createTopics, waitForLeaders); consumer sessionTimeout 30000, heartbeatInterval 500, maxWaitTimeInMs 500 (Potter’s defaults)',
      ],
    },
    async open(_batchSize, name, onMessage) {
      await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }], waitForLeaders: true });
      topics.push(name);
      const consumer = kafka.consumer({
        groupId: `${name}.group`,
        ...KAFKA_CONSUMER,
        allowAutoTopicCreation: false,
      });
      const joined = waitForJoin(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: [name], fromBeginning: true });
      await consumer.run({
        autoCommit: !commitEach,
        eachMessage: async ({ topic, partition, message }) => {
          const envelope = JSON.parse(message.value!.toString('utf8')) as MessageEnvelope<BenchPayload>;
          onMessage(envelope.payload);
          if (commitEach) {
            await consumer.commitOffsets([
              { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
            ]);
          }
        },
      });
      await joined;
      return {
        async publish(batch) {
          await producer.send({
            topic: name,
            acks: -1,
            messages: batch.map((envelope) => ({
              key: null,
              value: JSON.stringify(envelope),
              headers: { 'content-type': CONTENT_TYPE },
            })),
          });
        },
        stop: () => consumer.disconnect(),
      };
    },
    async close() {
      await producer.disconnect();
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

interface KafkaBusModule {
  KafkaMessageBus: new (options: {
    brokers?: string[];
    clientId?: string;
    partitions?: number;
  }) => MessageBus;
}

async function kafkaPotterVariant(config: WorkerConfig): Promise<Variant> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- potter/kafka may not be built yet
  const { KafkaMessageBus } = require('potter/kafka') as KafkaBusModule;
  const bus = new KafkaMessageBus({ brokers: config.kafkaBrokers, clientId: 'potter-bench', partitions: 1 });
  const kafkajs = loadKafkajs();
  const admin = new kafkajs.Kafka({
    brokers: config.kafkaBrokers,
    clientId: 'potter-bench-admin',
    logLevel: kafkajs.logLevel.ERROR,
  }).admin();
  await admin.connect();
  const topics: string[] = [];
  return {
    info: {
      libraries: [
        `potter ${packageVersion('potter')} (this checkout)`,
        `kafkajs ${packageVersion('kafkajs')}`,
      ],
      notes: [
        'new KafkaMessageBus({ brokers, partitions: 1 }) (one per worker: its producer is shared by the runs); defaults otherwise (JSON codec, sessionTimeout 30000, heartbeat 500, maxWaitTimeMs 500)',
        'bus.publish(topic, batch); bus.subscribe(topic, group, handler) (concurrency 1, fromBeginning; the adapter runs eachMessage and commits each offset after its handler)',
      ],
    },
    async open(_batchSize, name, onMessage) {
      topics.push(name);
      const subscription = await bus.subscribe(name, `${name}.group`, (message) => {
        onMessage(message.envelope.payload as unknown as BenchPayload);
      });
      return {
        publish: (batch) => bus.publish(name, batch),
        stop: () => subscription.stop(),
      };
    },
    async close() {
      await bus.close();
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Runs

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function timedRun(
  id: VariantId,
  variant: Variant,
  config: WorkerConfig,
  meter: RedisMeter | undefined,
  request: RunRequest,
  name: string,
): Promise<RunResult> {
  const { messages, batchSize, phase, rate } = request;
  const latencies = new Float64Array(messages);
  const seen = new Uint8Array(messages);
  let received = 0;
  let duplicates = 0;
  let lastAt = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const channel = await variant.open(batchSize, name, (payload) => {
    const now = performance.now();
    if (seen[payload.seq] === 1) {
      duplicates++;
      return;
    }
    seen[payload.seq] = 1;
    latencies[received++] = now - payload.sentAt;
    lastAt = now;
    if (received === messages) finish();
  });
  try {
    gc?.();
    const before = await meter?.sample();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const interval = (batchSize * 1000) / rate;
    for (let first = 0, k = 0; first < messages; first += batchSize, k++) {
      if (phase === 'latency') {
        const wait = started + k * interval - performance.now();
        if (wait > 0) await sleep(wait);
      }
      const batch = makeBatch(first, Math.min(batchSize, messages - first));
      stamp(batch, performance.now());
      await channel.publish(batch);
    }
    const publishMs = performance.now() - started;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`${id}: ${received} of ${messages} messages after ${config.runTimeoutMs} ms`)),
          config.runTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    const elapsedMs = lastAt - started;
    const cpu = process.cpuUsage(cpuBefore);
    const after = await meter?.sample();
    const server = before && after ? RedisMeter.delta(before, after) : undefined;
    return {
      ...request,
      variant: id,
      elapsedMs,
      publishMs,
      received,
      duplicates,
      latency: summarizeLatencies(latencies, received),
      nodeCpuMs: (cpu.user + cpu.system) / 1000,
      nodeSystemCpuMs: cpu.system / 1000,
      serverCpuMs: server?.serverCpuMs ?? null,
      commands: server?.commands ?? null,
    };
  } finally {
    await channel.stop();
  }
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new Error('this file runs as a worker of messaging.bench.js (forked with an IPC channel)'));
      return;
    }
    process.send(message, undefined, {}, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

function main(): void {
  const id = process.argv[2] as VariantId;
  if (!VARIANT_IDS.includes(id)) throw new Error(`unknown variant "${String(id)}"`);
  let variant: Variant | undefined;
  let config: WorkerConfig | undefined;
  let admin: RedisClient | undefined;
  let meter: RedisMeter | undefined;
  let runs = 0;
  const nameOf = (): string => {
    const n = ++runs;
    return brokerOf(id) === 'redis' ? `${config!.prefix}:${id}:${n}` : `${config!.prefix}.${id}.${n}`;
  };

  const handle = async (message: ParentMessage): Promise<WorkerMessage> => {
    switch (message.kind) {
      case 'setup': {
        const started = performance.now();
        config = message.config;
        if (brokerOf(id) === 'redis') {
          admin = loadRedis().createClient({ url: config.redisUrl });
          admin.on('error', () => undefined);
          await admin.connect();
          meter = new RedisMeter(admin);
        }
        switch (id) {
          case 'redis-raw':
            variant = await redisRawVariant(config, admin!);
            break;
          case 'redis-potter':
            variant = await redisPotterVariant(config, admin!);
            break;
          case 'kafka-raw':
          case 'kafka-raw-commit':
            variant = await kafkaRawVariant(config, id === 'kafka-raw-commit');
            break;
          case 'kafka-potter':
            variant = await kafkaPotterVariant(config);
            break;
        }
        // Untimed: JIT, connections, the producer's id.
        if (config.warmupMessages > 0) {
          await timedRun(
            id,
            variant,
            config,
            undefined,
            { phase: 'throughput', batchSize: 100, round: 0, messages: config.warmupMessages, rate: 0 },
            nameOf(),
          );
        }
        return {
          kind: 'ready',
          info: { ...variant.info, variant: id, setupMs: performance.now() - started },
        };
      }
      case 'run':
        if (!variant || !config) throw new Error('run before setup');
        return { kind: 'result', result: await timedRun(id, variant, config, meter, message.run, nameOf()) };
      case 'teardown':
        await variant?.close();
        if (admin?.isOpen) await admin.close();
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
