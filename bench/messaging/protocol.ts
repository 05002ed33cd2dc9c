/**
 * What the orchestrator (`messaging.bench.ts`) and the per-variant worker processes
 * (`bus.worker.ts`) say to each other over the IPC channel of `child_process.fork`.
 */

/** The variants measured side by side, one worker process each. */
export const VARIANT_IDS = [
  'redis-raw',
  'redis-potter',
  'kafka-raw',
  'kafka-raw-commit',
  'kafka-potter',
] as const;
export type VariantId = (typeof VARIANT_IDS)[number];
export type Broker = 'redis' | 'kafka';

export const brokerOf = (variant: VariantId): Broker => (variant.startsWith('redis') ? 'redis' : 'kafka');

/** A timed run: saturated (publish as fast as one awaited call at a time allows) or paced (fixed rate). */
export type Phase = 'throughput' | 'latency';

/** Everything a worker needs to know, sent once with `setup`. */
export interface WorkerConfig {
  redisUrl: string;
  kafkaBrokers: string[];
  /** Prefix of the streams / topics this run creates (unique per run of the bench). */
  prefix: string;
  /** Messages of the untimed warmup run at setup. */
  warmupMessages: number;
  /** Longest a run may take before it fails, ms. */
  runTimeoutMs: number;
}

/** What a worker reports about itself after `setup`. */
export interface WorkerInfo {
  variant: VariantId;
  libraries: string[];
  notes: string[];
  setupMs: number;
}

export interface RunRequest {
  phase: Phase;
  batchSize: number;
  round: number;
  messages: number;
  /** Paced phase: messages per second (batches of `batchSize` at even intervals). */
  rate: number;
}

export type ParentMessage =
  { kind: 'setup'; config: WorkerConfig } | { kind: 'run'; run: RunRequest } | { kind: 'teardown' };

/** End-to-end latencies of a run (publish call start → handler start), ms. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** One timed run. */
export interface RunResult extends RunRequest {
  variant: VariantId;
  /** First publish call start → last handler start, ms. */
  elapsedMs: number;
  /** First publish call start → last publish call resolved, ms. */
  publishMs: number;
  /** Messages handled (each sequence number checked once). */
  received: number;
  /** Messages handled more than once (at-least-once redeliveries; expected 0). */
  duplicates: number;
  latency: LatencySummary;
  /** CPU time (user + system) of the worker process during the run, ms. */
  nodeCpuMs: number;
  /** Of which system (kernel) time, ms. */
  nodeSystemCpuMs: number;
  /** CPU time of the Redis server during the run (INFO cpu), ms; null for Kafka. */
  serverCpuMs: number | null;
  /** Redis commands the run sent (INFO commandstats delta), by command; null for Kafka. */
  commands: Record<string, number> | null;
}

export type WorkerMessage =
  | { kind: 'ready'; info: WorkerInfo }
  | { kind: 'result'; result: RunResult }
  | { kind: 'done' }
  | { kind: 'error'; message: string; stack: string | undefined };
