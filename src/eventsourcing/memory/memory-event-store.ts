import { StreamDeletedError } from '../../core/errors';
import {
  START,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type LastPositionOptions,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamInfo,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from '../event-store';
import {
  checkExpectedVersion,
  idempotentRetryVersion,
  matchesFilters,
  prepareEvents,
  validateExpectedVersion,
} from '../store-support';
import { runSubscription } from '../subscription';

interface StreamState {
  events: RecordedEvent[];
  truncatedBefore: number;
  deleted: boolean;
}

/** Encodes a log index as a position that sorts correctly as a string. */
function toPosition(index: number): GlobalPosition {
  return index.toString().padStart(16, '0');
}

/** Options of {@link MemoryEventStore}. */
export interface MemoryEventStoreOptions {
  /** Source of `recordedAt`. @default () => new Date() */
  now?: () => Date;
}

/**
 * An event store in process memory: the complete EventStore contract (optimistic concurrency,
 * idempotent appends, soft deletion, truncation, filtered `readAll`, live subscriptions), for tests,
 * demos and single-process apps. Nothing survives the process.
 */
export class MemoryEventStore implements EventStore {
  readonly #log: RecordedEvent[] = [];
  readonly #streams = new Map<string, StreamState>();
  readonly #byId = new Map<string, RecordedEvent>();
  #waiters: (() => void)[] = [];
  readonly #now: () => Date;

  constructor(options: MemoryEventStoreOptions = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  async appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    const expected = options.expectedVersion ?? 'any';
    validateExpectedVersion(expected);
    const stream = this.#streams.get(streamId);
    if (stream?.deleted) throw new StreamDeletedError(streamId);
    const version = stream ? stream.events.length : 0;
    const recordedAt = this.#now();
    const prepared = prepareEvents(events, recordedAt);
    if (prepared.length > 0 && this.#byId.has(prepared[0]!.id)) {
      const next = idempotentRetryVersion(
        streamId,
        expected,
        prepared,
        prepared.map((e) => this.#byId.get(e.id)),
      );
      return { nextExpectedVersion: next, written: 0, lastPosition: undefined };
    }
    checkExpectedVersion(streamId, expected, version, stream !== undefined && version > 0);
    if (prepared.length === 0) return { nextExpectedVersion: version, written: 0, lastPosition: undefined };
    const seen = new Set<string>();
    for (const event of prepared) {
      if (this.#byId.has(event.id) || seen.has(event.id)) {
        idempotentRetryVersion(
          streamId,
          expected,
          prepared,
          prepared.map((e) => this.#byId.get(e.id)),
        );
      }
      seen.add(event.id);
    }
    const state = stream ?? { events: [], truncatedBefore: 0, deleted: false };
    if (!stream) this.#streams.set(streamId, state);
    let lastPosition: GlobalPosition | undefined;
    for (const event of prepared) {
      const recorded: RecordedEvent = {
        id: event.id,
        streamId,
        streamVersion: state.events.length + 1,
        position: (lastPosition = toPosition(this.#log.length + 1)),
        type: event.type,
        schemaVersion: event.schemaVersion,
        payload: structuredClone(event.payload),
        metadata: event.metadata,
        recordedAt,
      };
      state.events.push(recorded);
      this.#log.push(recorded);
      this.#byId.set(recorded.id, recorded);
    }
    this.#notify();
    return { nextExpectedVersion: state.events.length, written: prepared.length, lastPosition };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const stream = this.#streams.get(streamId);
    if (!stream) return [];
    if (stream.deleted) throw new StreamDeletedError(streamId);
    const backward = options.direction === 'backward';
    const low = Math.max(
      stream.truncatedBefore,
      backward ? (options.toVersion ?? 1) : (options.fromVersion ?? 1),
      1,
    );
    const high = Math.min(
      stream.events.length,
      backward ? (options.fromVersion ?? Infinity) : (options.toVersion ?? Infinity),
    );
    let selected = stream.events.slice(low - 1, Math.max(low - 1, high));
    if (backward) selected = selected.reverse();
    if (options.limit !== undefined) selected = selected.slice(0, options.limit);
    return selected.map(clone);
  }

  async lastPosition(options: LastPositionOptions = {}): Promise<GlobalPosition> {
    for (let index = this.#log.length - 1; index >= 0; index--) {
      if (matchesFilters(this.#log[index]!, options)) return toPosition(index + 1);
    }
    return START;
  }

  async countEvents(options: Omit<ReadAllOptions, 'limit'> = {}): Promise<number> {
    const after = options.after ?? START;
    let count = 0;
    for (let index = after === START ? 0 : Number(after); index < this.#log.length; index++) {
      if (matchesFilters(this.#log[index]!, options)) count++;
    }
    return count;
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const after = options.after ?? START;
    const limit = options.limit ?? 1000;
    const start = after === START ? 0 : Number(after);
    const events: RecordedEvent[] = [];
    let index = start;
    while (index < this.#log.length && events.length < limit) {
      const event = this.#log[index]!;
      index++;
      if (matchesFilters(event, options)) events.push(clone(event));
    }
    return { events, position: index === 0 ? after : toPosition(index), endOfLog: index >= this.#log.length };
  }

  async streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    const stream = this.#streams.get(streamId);
    if (!stream) return undefined;
    return {
      streamId,
      version: stream.events.length,
      truncatedBefore: stream.truncatedBefore,
      deleted: stream.deleted,
    };
  }

  async deleteStream(streamId: string, options: AppendOptions = {}): Promise<void> {
    const expected = options.expectedVersion ?? 'any';
    validateExpectedVersion(expected);
    const stream = this.#streams.get(streamId);
    if (stream?.deleted) return;
    checkExpectedVersion(streamId, expected, stream?.events.length ?? 0, stream !== undefined);
    if (stream) stream.deleted = true;
    else this.#streams.set(streamId, { events: [], truncatedBefore: 0, deleted: true });
  }

  async truncateStreamBefore(streamId: string, version: number): Promise<void> {
    const stream = this.#streams.get(streamId);
    if (!stream) return;
    if (stream.deleted) throw new StreamDeletedError(streamId);
    stream.truncatedBefore = Math.max(stream.truncatedBefore, version);
  }

  subscribeToAll(handler: SubscriptionHandler, options: SubscribeOptions = {}): Subscription {
    return runSubscription(this, handler, options, (signal) => this.#waitForAppend(signal));
  }

  async close(): Promise<void> {
    this.#notify();
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #waitForAppend(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}

function clone(event: RecordedEvent): RecordedEvent {
  return {
    ...event,
    payload: structuredClone(event.payload),
    metadata: { ...event.metadata, headers: { ...event.metadata.headers } },
  };
}
