/**
 * What the orchestrator (`projections.bench.ts`) and the per-variant worker processes
 * (`catchup.worker.ts`) say to each other over the IPC channel of `child_process.fork`.
 */

/** The variants measured side by side, one worker process each. */
export const VARIANT_IDS = ['raw', 'memory', 'sql'] as const;
export type VariantId = (typeof VARIANT_IDS)[number];

/** Everything a worker needs to know, sent once with `setup`. */
export interface WorkerConfig {
  /** For the worker's housekeeping (cleanup, checks). */
  connectionString: string;
  /** For the variant under test: the same server, with `application_name` set to {@link applicationName}. */
  systemConnectionString: string;
  /** Identifies the variant's server processes in `pg_stat_activity`, for CPU accounting. */
  applicationName: string;
  /** The schema holding the seeded events (and, for `sql`, the projection tables). */
  schema: string;
  /** Events stored (all of the one type the projection handles). */
  events: number;
  /** Order streams they are appended to (`events / streams` events each). */
  streams: number;
  /** Customers (one read-model document each), spread over the log round-robin. */
  customers: number;
  /** Events of the untimed warmup pass run at setup. */
  warmupEvents: number;
  /** Batch size of the warmup pass. */
  warmupBatchSize: number;
}

/** What a worker reports about itself after `setup`. */
export interface WorkerInfo {
  variant: VariantId;
  libraries: string[];
  notes: string[];
  setupMs: number;
}

export type ParentMessage =
  | { kind: 'setup'; config: WorkerConfig }
  | { kind: 'run'; batchSize: number; round: number }
  | { kind: 'teardown' };

/** The engine's per-phase times (`ProjectionStatus.timings`) at the end of a run. */
export interface RunTimings {
  batches: number;
  readMs: number;
  handleMs: number;
  commitMs: number;
}

/** One timed catch-up. */
export interface RunResult {
  variant: VariantId;
  batchSize: number;
  round: number;
  /** Wall time from the start to caught up, ms. */
  elapsedMs: number;
  /** Events handled (checked against the read model / fold afterwards). */
  events: number;
  /** Batches read (raw) or handled (engine). */
  batches: number;
  /** CPU time (user + system) of the worker process during the timed part, ms. */
  nodeCpuMs: number;
  /** CPU time of the variant's PostgreSQL server processes during the timed part, ms (`null`: not readable). */
  pgCpuMs: number | null;
  /** The engine's own split (engine variants only). */
  timings: RunTimings | null;
  /** `ProjectionStatus.delivery` (engine variants only). */
  delivery: string | null;
}

export type WorkerMessage =
  | { kind: 'ready'; info: WorkerInfo }
  | { kind: 'result'; result: RunResult }
  | { kind: 'done' }
  | { kind: 'error'; message: string; stack: string | undefined };
