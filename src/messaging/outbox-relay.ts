import { backoffDelay, resolveBackoff } from '../core/backoff';
import type { MessageEnvelope } from '../core/envelope';
import { ConfigurationError, ProjectionFencedError, describeError } from '../core/errors';
import { newId } from '../core/ids';
import { silentLogger, type Logger } from '../core/logger';
import {
  START,
  type EventStore,
  type GlobalPosition,
  type RecordedEvent,
} from '../eventsourcing/event-store';
import type { ProjectionLease, ProjectionStore } from '../projections/projection-store';
import type { MessageBus } from './message-bus';

/** Options of {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  /** The event store whose log is the outbox (events are relayed in log order). */
  eventStore: EventStore;
  /** Where the relay keeps its positions and leases (the projection store: one record per partition). */
  store: ProjectionStore;
  /** The broker to relay to. */
  bus: MessageBus;
  /** The topic of an event. @default `events.<event type>` */
  topicFor?: (event: RecordedEvent) => string;
  /** Relay name (several relays of different names relay independently). @default 'outbox' */
  name?: string;
  /**
   * The log is split by stream id into this many partitions; each is relayed by one instance at a
   * time (its lease), in log order — so every stream's events go out in order. Keep it constant
   * for a relay name. @default 1
   */
  partitions?: number;
  /** Only these event types (all when absent). */
  eventTypes?: readonly string[];
  /** Events per read and publish. @default 500 */
  batchSize?: number;
  /** @default a new UUID */
  instanceId?: string;
  /** @default 5000 */
  leaseTtlMs?: number;
  /** Poll interval when caught up and the store cannot push, in ms. @default 250 */
  pollIntervalMs?: number;
  logger?: Logger;
}

/** The broker envelope of a stored event. */
export function envelopeOfEvent(event: RecordedEvent): MessageEnvelope<Record<string, unknown>> {
  return {
    id: event.id,
    type: event.type,
    kind: 'event',
    payload: event.payload,
    metadata: {
      ...event.metadata,
      schemaVersion: event.schemaVersion,
      headers: {
        ...event.metadata.headers,
        'potter-stream-id': event.streamId,
        'potter-stream-version': String(event.streamVersion),
      },
    },
  };
}

/** The partition of a stream: FNV-1a of its id, modulo `partitions`. @internal */
export function partitionOf(streamId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/**
 * The transactional outbox: events appended to the event store (in the same transaction as the
 * state change, since the events are the state) are relayed to the message bus by this relay. It
 * follows the log from a durable position per partition, publishes each batch (key = stream id, so
 * a stream's events stay in order on the broker), then records the position — at-least-once: after
 * a crash the last batch may be published again, so consumers dedupe by envelope id (the event id;
 * see `Inbox`). Several relays may run: each partition is relayed by one of them at a time, under a
 * lease whose fencing token guards the position.
 */
export class OutboxRelay {
  readonly #options: Required<Omit<OutboxRelayOptions, 'eventTypes' | 'logger'>> & {
    eventTypes: readonly string[] | undefined;
    logger: Logger;
  };
  #stopping = new AbortController();
  #loops: Promise<void>[] = [];
  readonly #relayed: number[];

  constructor(options: OutboxRelayOptions) {
    const partitions = options.partitions ?? 1;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
      throw new ConfigurationError('partitions must be an integer from 1 to 1024', { partitions });
    }
    this.#options = {
      eventStore: options.eventStore,
      store: options.store,
      bus: options.bus,
      topicFor: options.topicFor ?? ((event) => `events.${event.type}`),
      name: options.name ?? 'outbox',
      partitions,
      eventTypes: options.eventTypes,
      batchSize: options.batchSize ?? 500,
      instanceId: options.instanceId ?? newId(),
      leaseTtlMs: options.leaseTtlMs ?? 5000,
      pollIntervalMs: options.pollIntervalMs ?? 250,
      logger: options.logger ?? silentLogger,
    };
    this.#relayed = new Array<number>(partitions).fill(0);
  }

  /** Events relayed by this instance, per partition. */
  get relayed(): readonly number[] {
    return [...this.#relayed];
  }

  /** Starts relaying every partition whose lease this instance can take. */
  start(): void {
    if (this.#loops.length > 0) return;
    this.#stopping = new AbortController();
    for (let p = 0; p < this.#options.partitions; p++) this.#loops.push(this.#partition(p));
  }

  /** Stops after the batches in flight and releases the leases. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  /** The record name of a partition in the projection store. */
  recordName(partition: number): string {
    return `${this.#options.name}:relay:${partition}/${this.#options.partitions}`;
  }

  async #partition(partition: number): Promise<void> {
    const o = this.#options;
    const name = this.recordName(partition);
    const retry = resolveBackoff({ maxAttempts: 1_000_000, initialDelayMs: 100, maxDelayMs: 10_000 });
    let failures = 0;
    while (!this.#stopping.signal.aborted) {
      let lease: ProjectionLease | undefined;
      try {
        const acquired = await o.store.acquire(name, o.instanceId, o.leaseTtlMs, { position: START });
        if (!acquired) {
          await this.#pause(Math.max(50, o.leaseTtlMs / 5));
          continue;
        }
        lease = acquired.lease;
        await this.#relay(partition, lease, acquired.record.position);
        failures = 0;
      } catch (error) {
        if (error instanceof ProjectionFencedError) {
          o.logger.warn(`Outbox relay ${name}: lease lost, another instance relays it now`);
        } else {
          failures++;
          o.logger.error(`Outbox relay ${name} failed; retrying`, { error: describeError(error) });
          await this.#pause(backoffDelay(retry, failures));
        }
      } finally {
        if (lease) await o.store.release(lease).catch(() => undefined);
      }
    }
  }

  async #relay(partition: number, lease: ProjectionLease, from: GlobalPosition): Promise<void> {
    const o = this.#options;
    const lost = new AbortController();
    const heartbeat = setInterval(
      () => {
        o.store.renew(lease, o.leaseTtlMs).then(
          (ok) => {
            if (!ok) lost.abort();
          },
          () => undefined,
        );
      },
      Math.max(50, Math.floor(o.leaseTtlMs / 3)),
    );
    heartbeat.unref();
    const subscription = o.eventStore.subscribeToAll(
      async (events) => {
        if (lost.signal.aborted) throw new ProjectionFencedError(lease.name, lease.token);
        const mine = events.filter((e) => partitionOf(e.streamId, o.partitions) === partition);
        await this.#publish(mine);
        // The position moves past the whole batch (other partitions' events included).
        await o.store.commit(lease, { position: events[events.length - 1]!.position });
        this.#relayed[partition]! += mine.length;
      },
      {
        after: from,
        batchSize: o.batchSize,
        pollIntervalMs: o.pollIntervalMs,
        ...(o.eventTypes ? { eventTypes: o.eventTypes } : {}),
      },
    );
    const stop = (): void => void subscription.stop().catch(() => undefined);
    this.#stopping.signal.addEventListener('abort', stop, { once: true });
    lost.signal.addEventListener('abort', stop, { once: true });
    try {
      await subscription.done;
      if (lost.signal.aborted) throw new ProjectionFencedError(lease.name, lease.token);
    } finally {
      clearInterval(heartbeat);
      this.#stopping.signal.removeEventListener('abort', stop);
    }
  }

  /**
   * Publishes a batch: one `publish` per (topic, stream) with that stream's events in log order;
   * different streams go out concurrently (their relative order does not matter), at most 16 calls
   * at a time. Resolves when the broker acknowledged all of them.
   */
  async #publish(events: RecordedEvent[]): Promise<void> {
    const groups = new Map<string, { topic: string; key: string; envelopes: MessageEnvelope[] }>();
    for (const event of events) {
      const topic = this.#options.topicFor(event);
      const id = `${topic}\u0000${event.streamId}`;
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { topic, key: event.streamId, envelopes: [] }));
      group.envelopes.push(envelopeOfEvent(event));
    }
    const queue = [...groups.values()];
    const worker = async (): Promise<void> => {
      for (let group = queue.shift(); group; group = queue.shift()) {
        await this.#options.bus.publish(group.topic, group.envelopes, { key: group.key });
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, queue.length) }, worker));
  }

  async #pause(ms: number): Promise<void> {
    const signal = this.#stopping.signal;
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
