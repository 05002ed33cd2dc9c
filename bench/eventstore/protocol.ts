/**
 * What the orchestrator (`eventstore.bench.ts`) and the per-system worker processes (`*.worker.ts`)
 * say to each other over the IPC channel of `child_process.fork`, and the workload definitions both
 * sides share.
 */

/** The systems measured side by side, one worker process each. */
export const SYSTEM_IDS = ['raw', 'emmett', 'potter'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];

/** The timed tasks, in the order each round runs them. */
export const TASK_IDS = [
  'append-1',
  'append-10',
  'append-100',
  'append-8x10',
  'read-fold',
  'load-full',
  'load-snapshot',
] as const;
export type TaskId = (typeof TASK_IDS)[number];

/** An append workload: `writers` concurrent writers, each with its own streams. */
export interface AppendSpec {
  kind: 'append';
  /** Concurrent writers (each awaits its own calls one after the other). */
  writers: number;
  /** `appendToStream` calls per writer. */
  callsPerWriter: number;
  /** Events per call. */
  batchSize: number;
  /** Streams per writer; call `i` of a writer goes to its stream `i % streamsPerWriter`. */
  streamsPerWriter: number;
}

/** Reading or loading the seeded stream `repetitions` times in a row. */
export interface ReadSpec {
  kind: 'read-fold' | 'load-full' | 'load-snapshot';
  repetitions: number;
}

export type TaskSpec = AppendSpec | ReadSpec;

/** Everything a worker needs to know, sent once with `setup`. */
export interface WorkerConfig {
  /** For the worker's own housekeeping (schema, statistics, CPU accounting). */
  connectionString: string;
  /** For the system under test: the same server, with `application_name` set to {@link applicationName}. */
  systemConnectionString: string;
  /** Identifies the system's server processes in `pg_stat_activity`, for CPU accounting. */
  applicationName: string;
  /** The PostgreSQL schema this system owns for the run (created fresh, dropped at teardown). */
  schema: string;
  /** Events in the stream read by `read-fold` and loaded by `load-*`. */
  streamEvents: number;
  tasks: Record<TaskId, TaskSpec>;
  /** The tasks that will run (the others are not warmed up either). */
  only: TaskId[];
  /** Untimed calls before each timed append task, as a fraction of its calls (same shape). */
  warmupFraction: number;
}

/** Facts about what a system stored, queried after the last round. */
export interface StorageStats {
  /** Event rows in the system's table(s). */
  events: number;
  /** Average `length(payload::text)` (jsonb's canonical text) of the stored payloads. */
  avgPayloadChars: number;
  /** Average `length(metadata::text)`. */
  avgMetadataChars: number;
  /** Tables, indexes and TOAST of the system's schema (`pg_total_relation_size` summed), bytes. */
  schemaBytes: number;
  /**
   * The schema's tables (partitions included): `rows` is the planner's estimate
   * (`pg_class.reltuples`, -1 when never analyzed), `bytes` the total size with indexes and TOAST.
   */
  tables: { name: string; rows: number; bytes: number }[];
  /** The schema's index definitions (`pg_indexes.indexdef`). */
  indexes: string[];
}

/** What a worker reports about itself after `setup`. */
export interface WorkerInfo {
  system: SystemId;
  /** E.g. `@event-driven-io/emmett-postgresql 0.42.0`, `pg 8.16.3`. */
  libraries: string[];
  /** Connection pool size used for the system's appends and reads. */
  poolSize: number | string;
  /** Tasks this system takes part in. */
  tasks: TaskId[];
  setupMs: number;
  /** Free-form notes (how the system is configured). */
  notes: string[];
}

export type ParentMessage =
  | { kind: 'setup'; config: WorkerConfig }
  | { kind: 'run'; task: TaskId; round: number }
  | { kind: 'stats' }
  | { kind: 'teardown' };

/** One timed measurement. */
export interface TaskResult {
  task: TaskId;
  round: number;
  /** Wall time of the timed part, ms. */
  elapsedMs: number;
  /** Events written or read in the timed part. */
  events: number;
  /** `appendToStream` calls, reads or loads in the timed part. */
  operations: number;
  /** CPU time (user + system) of the worker process during the timed part, ms. */
  nodeCpuMs: number;
  /**
   * CPU time of the PostgreSQL server processes serving the system's connections during the timed
   * part, ms (from /proc: `null` when the server's processes cannot be read from here).
   */
  pgCpuMs: number | null;
}

export type WorkerMessage =
  | { kind: 'ready'; info: WorkerInfo }
  | { kind: 'result'; result: TaskResult }
  | { kind: 'stats'; stats: StorageStats }
  | { kind: 'done' }
  | { kind: 'error'; message: string; stack: string | undefined };
