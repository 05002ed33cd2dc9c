import type { MessageMetadata } from '../core/envelope';

/**
 * What the writer expects of the stream before an append:
 * - `'any'`: no check;
 * - `'no_stream'`: the stream has no event yet (and was never deleted);
 * - `'exists'`: the stream has at least one event;
 * - a number: the stream's current version (the version of its last event; 0 = no event yet).
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'exists' | number;

/**
 * A position in the all-events log. Positions of one store are totally ordered by plain string
 * comparison (`a < b`), survive JSON, and can be stored in any checkpoint store. They are opaque:
 * the memory store uses a zero-padded counter, PostgreSQL a transaction-safe composite.
 */
export type GlobalPosition = string;

/** The position before the first event: `readAll({ after: START })` reads from the beginning. */
export const START: GlobalPosition = '';

/** An event to append. */
export interface NewEvent {
  /** Unique id (UUID). Re-appending an event with an id already in the stream is a no-op. @default a new UUID v7 */
  id?: string;
  /** Stable type name. */
  type: string;
  /** Schema version of `payload`. @default 1 */
  schemaVersion?: number;
  /** JSON object. */
  payload: Record<string, unknown>;
  /** Envelope metadata (correlation/causation ids, headers…); missing fields are filled in. */
  metadata?: Partial<MessageMetadata>;
}

/** An event as stored. */
export interface RecordedEvent {
  id: string;
  streamId: string;
  /** 1 for the stream's first event, then +1 per event. */
  streamVersion: number;
  /** Position in the all-events log. */
  position: GlobalPosition;
  type: string;
  schemaVersion: number;
  payload: Record<string, unknown>;
  metadata: MessageMetadata;
  /** When the store recorded it. */
  recordedAt: Date;
}

/** Options of `appendToStream`. */
export interface AppendOptions {
  /** @default 'any' */
  expectedVersion?: ExpectedVersion;
}

/** Outcome of an append. */
export interface AppendResult {
  /** The stream's version after the append (what to expect next time). */
  nextExpectedVersion: number;
  /** How many events were written (0 when every event id was already stored: an idempotent retry). */
  written: number;
  /** Position of the last event written, if any. */
  lastPosition: GlobalPosition | undefined;
}

/** Options of `readStream`. */
export interface ReadStreamOptions {
  /** @default 'forward' */
  direction?: 'forward' | 'backward';
  /** First version to return (inclusive); for backward reads, the highest. */
  fromVersion?: number;
  /** Last version to return (inclusive); for backward reads, the lowest. */
  toVersion?: number;
  /** Maximum number of events. */
  limit?: number;
}

/** Options of `readAll`. */
export interface ReadAllOptions {
  /** Exclusive lower bound. @default START */
  after?: GlobalPosition;
  /** Maximum events in this batch. @default 1000 */
  limit?: number;
  /** Only these event types. */
  eventTypes?: readonly string[];
  /** Only streams whose id starts with this prefix. */
  streamIdPrefix?: string;
  /** Only events recorded at or after this time. */
  from?: Date;
  /** Only events recorded before this time. */
  to?: Date;
}

/** One batch of `readAll`. */
export interface ReadAllResult {
  events: RecordedEvent[];
  /**
   * Where the next batch starts (pass it as `after`). It moves past filtered-out events too, so
   * a filtered reader never rereads them; when nothing more is readable it equals `after`.
   */
  position: GlobalPosition;
  /** True when this batch reached the current end of the readable log. */
  endOfLog: boolean;
}

/** Filters of {@link EventStore.lastPosition}. */
export type LastPositionOptions = Omit<ReadAllOptions, 'after' | 'limit'>;

/** Facts about a stream. */
export interface StreamInfo {
  streamId: string;
  /** Version of the last event (0 when none). */
  version: number;
  /** Events before this version are truncated (not returned by reads). */
  truncatedBefore: number;
  deleted: boolean;
}

/** Options of `subscribeToAll`. */
export interface SubscribeOptions extends Omit<ReadAllOptions, 'after' | 'limit'> {
  /** Start after this position. @default START */
  after?: GlobalPosition;
  /** Events per batch while catching up. @default 500 */
  batchSize?: number;
  /** How often to look for new events when the store cannot push notifications, in ms. @default 200 */
  pollIntervalMs?: number;
  /** Stops the subscription. */
  signal?: AbortSignal;
}

/** Handles a batch of events of a subscription, in order. */
export type SubscriptionHandler = (events: RecordedEvent[]) => Promise<void> | void;

/** A running subscription. */
export interface Subscription {
  /** Position of the last event handled. */
  readonly position: GlobalPosition;
  /** Resolves once every event recorded up to now has been handled. */
  caughtUp(): Promise<void>;
  /** Stops after the batch in progress; resolves when stopped. Rejects if the handler failed. */
  stop(): Promise<void>;
  /** Settles when the subscription ends: resolves on stop, rejects with the handler's error. */
  readonly done: Promise<void>;
}

/**
 * The event store port. Every adapter (memory, PostgreSQL, PGlite, …) passes the same contract
 * suite (`test/contracts/event-store.contract.ts`).
 */
export interface EventStore {
  /**
   * Appends events atomically, checking `expectedVersion`; a conflict raises `ConcurrencyError`
   * with the expected and actual versions. Idempotent by event id: appending events whose ids are
   * all already stored, at the version they were stored after, writes nothing and succeeds (a retry
   * after an unknown outcome). Zero events never change the stream. A soft-deleted stream rejects
   * appends with `StreamDeletedError`.
   */
  appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult>;
  /** Reads a stream's events (empty for an unknown stream; `StreamDeletedError` for a deleted one). */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Reads one batch of the all-events log in order. Never skips an event whose transaction
   * commits after a later position was read, and never stalls on a rolled-back write.
   */
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  /** Version, truncation and deletion state of a stream (`undefined` if it never had an event). */
  streamInfo(streamId: string): Promise<StreamInfo | undefined>;
  /**
   * Position of the last committed event matching the filters (`START` when there is none). It may
   * not be readable by `readAll` yet: on PostgreSQL, rows of a transaction become readable once
   * every older transaction has ended. Used to wait until a reader has handled everything committed
   * so far.
   */
  lastPosition?(options?: LastPositionOptions): Promise<GlobalPosition>;
  /**
   * Number of committed events after `options.after` matching the filters (readable or not yet):
   * how far behind a reader at that position is.
   */
  countEvents?(options?: Omit<ReadAllOptions, 'limit'>): Promise<number>;
  /** Soft-deletes a stream: its events stay in the log (for `readAll`), but stream reads and appends fail. */
  deleteStream(streamId: string, options?: AppendOptions): Promise<void>;
  /** Hides events before `version` from `readStream` (for example after a snapshot). */
  truncateStreamBefore(streamId: string, version: number): Promise<void>;
  /** Catches up from `after`, then follows new events live, calling `handler` with each batch in order. */
  subscribeToAll(handler: SubscriptionHandler, options?: SubscribeOptions): Subscription;
  /** Releases resources (pools, timers). */
  close(): Promise<void>;
}
