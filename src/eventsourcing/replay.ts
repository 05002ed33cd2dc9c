import { metadataRegistry } from '../metadata/metadata-registry';
import { START, type EventStore, type GlobalPosition, type RecordedEvent } from './event-store';
import { EventSerializer } from './event-serializer';

/** A function receiving each replayed event (as a domain event instance) with its stored form. */
export type ReplayFunction = (event: object, recorded: RecordedEvent) => unknown;

/** Where replayed events go: functions, or instances of classes with `@EventHandler` methods. */
export type ReplayTarget = ReplayFunction | object;

/** Progress of a replay. */
export interface ReplayProgress {
  /** Events handed to the targets so far. */
  processed: number;
  /** Position of the last event read. */
  position: GlobalPosition;
  /** The last event read, if any. */
  last: RecordedEvent | undefined;
}

/** Options of {@link replayEvents}. */
export interface ReplayOptions {
  /** Only these event types. */
  eventTypes?: readonly string[];
  /** Only streams starting with this prefix (e.g. `Order-` for every order). */
  streamIdPrefix?: string;
  /** Only events recorded at/after `from` and before `to`. */
  from?: Date;
  to?: Date;
  /** Start after this position. @default START */
  after?: GlobalPosition;
  /** Stop after this position (inclusive). */
  until?: GlobalPosition;
  /** @default 500 */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (progress: ReplayProgress) => void;
  /** Cancels the replay between batches (it then rejects with the signal's reason). */
  signal?: AbortSignal;
  /** @default a serializer over every `@Event` class */
  serializer?: EventSerializer;
}

/**
 * Replays stored events — all of them, or a filtered set (types, stream prefix, time or position
 * range) — into the given targets, in log order and in batches, reporting progress; each event is
 * awaited in each target before the next. Resolves with the final progress.
 */
export async function replayEvents(
  store: EventStore,
  targets: ReplayTarget | ReplayTarget[],
  options: ReplayOptions = {},
): Promise<ReplayProgress> {
  const serializer = options.serializer ?? new EventSerializer();
  const deliver = compileTargets(Array.isArray(targets) ? targets : [targets]);
  const progress: ReplayProgress = { processed: 0, position: options.after ?? START, last: undefined };
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason;
    const batch = await store.readAll({
      after: progress.position,
      limit: options.batchSize ?? 500,
      eventTypes: options.eventTypes,
      streamIdPrefix: options.streamIdPrefix,
      from: options.from,
      to: options.to,
    });
    let reachedEnd = batch.endOfLog;
    for (const recorded of batch.events) {
      if (options.until !== undefined && recorded.position > options.until) {
        reachedEnd = true;
        break;
      }
      await deliver(serializer.toDomainEvent(recorded), recorded);
      progress.processed++;
      progress.position = recorded.position;
      progress.last = recorded;
    }
    if (!reachedEnd) progress.position = batch.position;
    options.onProgress?.({ ...progress });
    if (reachedEnd || batch.events.length === 0) return progress;
  }
}

/** Replays the events of one stream (for example one aggregate's) into the targets. */
export async function replayStream(
  store: EventStore,
  streamId: string,
  targets: ReplayTarget | ReplayTarget[],
  options: Pick<ReplayOptions, 'serializer' | 'signal'> = {},
): Promise<number> {
  const serializer = options.serializer ?? new EventSerializer();
  const deliver = compileTargets(Array.isArray(targets) ? targets : [targets]);
  let processed = 0;
  for (const recorded of await store.readStream(streamId)) {
    if (options.signal?.aborted) throw options.signal.reason;
    await deliver(serializer.toDomainEvent(recorded), recorded);
    processed++;
  }
  return processed;
}

function compileTargets(targets: ReplayTarget[]): (event: object, recorded: RecordedEvent) => Promise<void> {
  const fns: ReplayFunction[] = targets.map((target) => {
    if (typeof target === 'function') return target as ReplayFunction;
    const handlers = metadataRegistry.getHandlers(target.constructor).filter((h) => h.kind === 'event');
    const instance = target as Record<string | symbol, (event: object, recorded: RecordedEvent) => unknown>;
    return (event, recorded) => {
      let last: unknown;
      for (const h of handlers)
        if (event instanceof h.message) last = instance[h.method]!.call(target, event, recorded);
      return last;
    };
  });
  return async (event, recorded) => {
    for (const fn of fns) await fn(event, recorded);
  };
}
