import { AggregateNotFoundError, ConcurrencyError, describeError } from '../core/errors';
import type { DispatchMetadata } from '../core/envelope';
import { silentLogger, type Logger } from '../core/logger';
import { backoffDelay, resolveBackoff, sleep, type BackoffOptions } from '../core/backoff';
import type { EventBus } from '../events/event-bus';
import { aggregateRecordOf, type AggregateRoot } from './aggregate-root';
import type { EventStore, NewEvent } from './event-store';
import { EventSerializer } from './event-serializer';
import type { SnapshotStore } from './snapshots/snapshot-store';
import type { SnapshotStrategy } from './snapshots/snapshot-strategies';

/** Options of an {@link AggregateRepository}. */
export interface AggregateRepositoryOptions {
  eventStore: EventStore;
  /** @default a serializer over every `@Event` class */
  serializer?: EventSerializer;
  snapshotStore?: SnapshotStore;
  /** When to snapshot after a save (needs `snapshotStore`). */
  snapshotStrategy?: SnapshotStrategy;
  /** Committed events are published here after each save. */
  eventBus?: EventBus;
  logger?: Logger;
  /** @default () => new Date() */
  now?: () => Date;
}

/** Options of `save`. */
export interface SaveOptions {
  /** Metadata for the stored events (by default inherited from the message being handled). */
  metadata?: DispatchMetadata;
}

/**
 * Loads aggregates from their event stream (snapshot + tail) and saves their new events with the
 * loaded version as expected version — a concurrent save raises `ConcurrencyError`. After a
 * commit the events are published on the event bus and, per strategy, a snapshot is written in
 * the background (it never blocks or fails a save).
 */
export class AggregateRepository<A extends AggregateRoot> {
  readonly aggregateType: string;
  readonly #target: new () => A;
  readonly #options: AggregateRepositoryOptions;
  readonly #serializer: EventSerializer;
  readonly #snapshotVersion: number;
  readonly #logger: Logger;
  readonly #now: () => Date;
  readonly #lastSnapshot = new Map<string, { version: number; at: Date | undefined }>();
  readonly #pending = new Set<Promise<void>>();

  constructor(target: new () => A, options: AggregateRepositoryOptions) {
    const record = aggregateRecordOf(target);
    this.aggregateType = record.name;
    this.#snapshotVersion = record.snapshotVersion;
    this.#target = target;
    this.#options = options;
    this.#serializer = options.serializer ?? new EventSerializer();
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? (() => new Date());
  }

  /** The stream of an aggregate: `<AggregateType>-<id>`. */
  streamId(id: string): string {
    return `${this.aggregateType}-${id}`;
  }

  /** A new, empty aggregate with the given id (version 0). */
  create(id: string): A {
    const aggregate = new this.#target();
    aggregate.id = id;
    return aggregate;
  }

  /** Loads an aggregate, or raises `AggregateNotFoundError`. */
  async load(id: string): Promise<A> {
    const aggregate = await this.find(id);
    if (!aggregate) throw new AggregateNotFoundError(this.aggregateType, id);
    return aggregate;
  }

  /** Loads an aggregate, or `undefined` when its stream has no event. */
  async find(id: string): Promise<A | undefined> {
    const aggregate = await this.#rehydrate(id);
    return aggregate.version === 0 ? undefined : aggregate;
  }

  /** Loads an aggregate, or creates a new one when it does not exist. */
  async loadOrCreate(id: string): Promise<A> {
    return this.#rehydrate(id);
  }

  /**
   * Appends the aggregate's new events, expecting the version it was loaded at; then publishes
   * them and considers a snapshot. Does nothing when there is no new event.
   */
  async save(aggregate: A, options: SaveOptions = {}): Promise<void> {
    const events = aggregate.uncommittedEvents;
    if (events.length === 0) return;
    const streamId = this.streamId(aggregate.id);
    const metadata = options.metadata;
    const toAppend: NewEvent[] = events.map((event) => {
      const newEvent = this.#serializer.toNewEvent(event);
      if (metadata) newEvent.metadata = { ...metadata, headers: { ...metadata.headers } };
      return newEvent;
    });
    const result = await this.#options.eventStore.appendToStream(streamId, toAppend, {
      expectedVersion: aggregate.version,
    });
    const committed = [...events];
    aggregate.markCommitted(result.nextExpectedVersion);
    if (this.#options.eventBus && committed.length > 0)
      await this.#options.eventBus.publishAll(committed, metadata);
    this.#considerSnapshot(aggregate, streamId);
  }

  /** Resolves when background snapshot writes have finished (for tests and shutdown). */
  async whenIdle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async #rehydrate(id: string): Promise<A> {
    const aggregate = this.create(id);
    const streamId = this.streamId(id);
    let fromVersion = 1;
    let stale = false;
    const store = this.#options.snapshotStore;
    if (store) {
      const snapshot = await store.load(streamId);
      if (snapshot && snapshot.schemaVersion === this.#snapshotVersion) {
        aggregate.restoreSnapshot(snapshot.state);
        aggregate.version = snapshot.version;
        fromVersion = snapshot.version + 1;
        // Only ever move the record forward: a newer snapshot may still be being written.
        const known = this.#lastSnapshot.get(streamId);
        if (!known || known.version < snapshot.version) {
          this.#lastSnapshot.set(streamId, { version: snapshot.version, at: snapshot.createdAt });
        }
      } else if (snapshot) {
        this.#logger.info(
          `Ignoring ${streamId} snapshot v${snapshot.schemaVersion}: the aggregate is at snapshot v${this.#snapshotVersion}`,
        );
        stale = !this.#lastSnapshot.has(streamId);
      }
    }
    const recorded = await this.#options.eventStore.readStream(streamId, { fromVersion });
    if (recorded.length > 0) {
      aggregate.replay(
        recorded.map((r) => this.#serializer.toDomainEvent(r)),
        recorded[recorded.length - 1]!.streamVersion,
      );
    }
    // A stale snapshot (other schema version) is replaced as soon as possible.
    if (store && stale && aggregate.version > 0) this.#writeSnapshot(aggregate, streamId);
    return aggregate;
  }

  #considerSnapshot(aggregate: A, streamId: string): void {
    const strategy = this.#options.snapshotStrategy;
    if (!this.#options.snapshotStore || !strategy) return;
    const last = this.#lastSnapshot.get(streamId) ?? { version: 0, at: undefined };
    const decide = strategy.shouldSnapshot({
      aggregateType: this.aggregateType,
      version: aggregate.version,
      lastSnapshotVersion: last.version,
      lastSnapshotAt: last.at,
      now: this.#now(),
    });
    if (decide) this.#writeSnapshot(aggregate, streamId);
  }

  #writeSnapshot(aggregate: A, streamId: string): void {
    const store = this.#options.snapshotStore!;
    const snapshot = {
      streamId,
      aggregateType: this.aggregateType,
      version: aggregate.version,
      schemaVersion: this.#snapshotVersion,
      state: aggregate.toSnapshot(),
      createdAt: this.#now(),
    };
    this.#lastSnapshot.set(streamId, { version: snapshot.version, at: snapshot.createdAt });
    const write = store.save(snapshot).then(
      () => undefined,
      (error: unknown) => {
        this.#lastSnapshot.delete(streamId);
        this.#logger.warn(`Snapshot of ${streamId} at v${snapshot.version} failed: ${describeError(error)}`);
      },
    );
    this.#pending.add(write);
    void write.finally(() => this.#pending.delete(write));
  }
}

/** Options of {@link retryOnConflict}. */
export interface RetryOnConflictOptions extends BackoffOptions {
  /** @default Math.random */
  random?: () => number;
}

/**
 * Runs `work` (load → change → save) again when it fails with `ConcurrencyError`, with backoff,
 * up to `maxAttempts` (default 5). Other errors are thrown at once.
 */
export async function retryOnConflict<T>(
  work: (attempt: number) => Promise<T>,
  options: RetryOnConflictOptions = {},
): Promise<T> {
  const backoff = resolveBackoff({ maxAttempts: 5, initialDelayMs: 5, maxDelayMs: 200, ...options });
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= backoff.maxAttempts) throw error;
      await sleep(backoffDelay(backoff, attempt, options.random));
    }
  }
}
