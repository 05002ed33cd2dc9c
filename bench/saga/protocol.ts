/**
 * What the orchestrator (`saga.bench.ts`) and the per-variant worker processes (`saga.worker.ts`)
 * say to each other over the IPC channel of `child_process.fork`.
 */

/**
 * The variants, one worker process each:
 * - `raw`: the limit — the three steps called directly, one `INSERT` per step (plain `pg` pool);
 * - `memory`: (a) `SagaOrchestrator` with `MemorySagaStore`;
 * - `sql`: (b) `SagaOrchestrator` with `SqlSagaStore` on PostgreSQL (not recording saga events);
 * - `events`: (b') the same, the store recording each write's saga events in the event store in
 *   the same transaction (`SqlSagaStore.for(sqlEventStore)`: what saga monitoring needs);
 * - `store`: diagnostic — `SqlSagaStore` alone, written as the orchestrator writes it (create + a
 *   save of the whole state after every transition), the steps called directly: (b) without the
 *   orchestrator's JavaScript.
 */
export const VARIANT_IDS = ['raw', 'memory', 'sql', 'events', 'store'] as const;
export type VariantId = (typeof VARIANT_IDS)[number];

/** Everything a worker needs to know, sent once with `setup`. */
export interface WorkerConfig {
  /** For the worker's housekeeping (checks, truncation) and its CPU meter. */
  connectionString: string;
  /** For the variant under test: the same server, with `application_name` set to {@link applicationName}. */
  systemConnectionString: string;
  /** Identifies the variant's server processes in `pg_stat_activity`, for CPU accounting. */
  applicationName: string;
  /** The schema holding `sagas` (the event store's migrations) and the baseline's `saga_steps`. */
  schema: string;
  /** `max` of the variant's `pg.Pool` (the same for every PostgreSQL variant). */
  poolSize: number;
  /** Untimed warmup at setup, ms of running sagas (at the highest concurrency measured). */
  warmupMs: number;
  /** The concurrency of the warmup. */
  warmupConcurrency: number;
}

/** What a worker reports about itself after `setup`. */
export interface WorkerInfo {
  variant: VariantId;
  libraries: string[];
  notes: string[];
  setupMs: number;
  /** Characters of the JSON of a finished saga's persisted record (state for the stores, context for raw). */
  recordJsonChars: number;
}

export type ParentMessage =
  | { kind: 'setup'; config: WorkerConfig }
  | { kind: 'run'; concurrency: number; durationMs: number; round: number }
  | { kind: 'teardown' };

/** Persistence calls of one run, by kind (`create`, `save`, `renew`, … for the stores; `insert` for raw). */
export type WriteCounts = Record<string, number>;

/** One timed run: `concurrency` loops starting sagas one after the other for `durationMs`. */
export interface RunResult {
  variant: VariantId;
  concurrency: number;
  round: number;
  /** Wall time from the first start to the end of the last saga, ms. */
  elapsedMs: number;
  /** Sagas run to `completed` (checked against the store / table afterwards). */
  sagas: number;
  /** Per-saga latency (start call to settled result), ms. */
  latencyMs: { mean: number; p50: number; p99: number };
  /** Persistence calls, by kind. */
  writes: WriteCounts;
  /** Wall time of the persistence calls as their caller sees it (pool wait included), summed, ms. */
  writeMs: number;
  /** The same, by kind. */
  writeMsByKind: Record<string, number>;
  /** CPU time (user + system) of the worker process during the timed part, ms. */
  nodeCpuMs: number;
  /** CPU time of the variant's PostgreSQL server processes during the timed part, ms (`null`: not readable / none). */
  pgCpuMs: number | null;
  /**
   * Heap used after the run minus before it, both after a gc, bytes: what the run left reachable
   * (`null` without `--expose-gc`). The orchestrator of the run is still referenced.
   */
  heapRetainedBytes: number | null;
}

export type WorkerMessage =
  | { kind: 'ready'; info: WorkerInfo }
  | { kind: 'result'; result: RunResult }
  | { kind: 'done' }
  | { kind: 'error'; message: string; stack: string | undefined };
