import { ConfigurationError, ProjectionNotFoundError } from '../core/errors';
import { newId } from '../core/ids';
import { silentLogger, type Logger } from '../core/logger';
import type { Constructor } from '../core/types';
import { START, type EventStore, type GlobalPosition } from '../eventsourcing/event-store';
import { EventSerializer } from '../eventsourcing/event-serializer';
import { metadataRegistry } from '../metadata/metadata-registry';
import { noopInstrumentation, type Instrumentation } from '../observability/instrumentation';
import { MemoryProjectionStore } from './memory-projection-store';
import { MemoryReadModelStore } from './memory-read-model-store';
import { SKIP_ON_REPLAY, projectionMetadata } from './projection.decorators';
import {
  ProjectionRunner,
  type ProjectionDefinition,
  type ProjectionHandlerMethod,
  type ProjectionRunState,
} from './projection-runner';
import type {
  ParkedEvent,
  ProjectionDurableStatus,
  ProjectionFault,
  ProjectionRecord,
  ProjectionRequest,
  ProjectionStore,
  ShadowBuild,
} from './projection-store';
import type { ReadModelStore } from './read-model-store';

/** Options of {@link ProjectionEngine}. */
export interface ProjectionEngineOptions {
  /** Where the events come from. */
  eventStore: EventStore;
  /** Checkpoints, leases and parked events. @default a new MemoryProjectionStore */
  store?: ProjectionStore;
  /** The document store behind `context.readModel()`. @default a new MemoryReadModelStore */
  readModels?: ReadModelStore;
  /** Turns stored events into event class instances (with upcasting). @default a new EventSerializer */
  serializer?: EventSerializer;
  logger?: Logger;
  instrumentation?: Instrumentation;
  /** This instance's identity in leases. @default a new UUID */
  instanceId?: string;
  /**
   * How long a lease lasts without renewal, in ms: when an instance dies, another takes its
   * projections over within about this time. Renewed every third of it. @default 5000
   */
  leaseTtlMs?: number;
  /** How often an instance without the lease tries to take it, in ms. @default leaseTtlMs / 5 */
  standbyPollMs?: number;
  /** How often a caught-up projection looks for new events when the store cannot push, in ms. @default 250 */
  pollIntervalMs?: number;
  /** How often status gauges (lag, state) are reported to the instrumentation, in ms; 0 = never. @default 5000 */
  reportIntervalMs?: number;
}

/** Time spent per phase since the runner started here, in ms (read includes waiting for events). */
export interface ProjectionTimings {
  batches: number;
  readMs: number;
  handleMs: number;
  commitMs: number;
}

/** A projection's status: its durable record, plus what this instance knows about it. */
export interface ProjectionStatus {
  name: string;
  /** What it does on this instance (`standby`: another instance holds the lease). */
  state: ProjectionRunState;
  /** Durable status (shared by every instance). */
  status: ProjectionDurableStatus;
  /** `'transactional'` (exactly-once effect) or `'at-least-once'`. */
  delivery: 'transactional' | 'at-least-once';
  /** The instance holding the lease (if any and not expired). */
  owner: string | undefined;
  /** True when this instance holds the lease. */
  ownedHere: boolean;
  position: GlobalPosition;
  /** Events of the projection's types after `position` (`undefined` when not computed). */
  lag: number | undefined;
  generation: number;
  shadow: ShadowBuild | undefined;
  /** Events handled by this instance since it started. */
  eventsHandled: number;
  /** Events per second over the last 10 s on this instance. */
  throughput: number;
  lastError: ProjectionFault | undefined;
  parked: number;
  request: ProjectionRequest | undefined;
  timings: ProjectionTimings;
  updatedAt: Date | undefined;
}

/** Options of {@link ProjectionEngine.waitUntilCaughtUp}. */
export interface WaitOptions {
  /** @default 30000 */
  timeoutMs?: number;
  /** Called about every `intervalMs` with the status (progress bars). */
  onProgress?: (status: ProjectionStatus) => void;
  /** @default 100 */
  intervalMs?: number;
}

/**
 * Runs projections: one {@link ProjectionRunner} per registered projection, each holding a lease so
 * that exactly one instance of the application runs a given projection at a time; the others stand
 * by and take over when the owner stops renewing. Operator actions (`reset`, `rebuild`,
 * `retryParked`, `pause`, `resume`) are recorded in the projection store and carried out by the
 * owner between batches, wherever it runs — so they work from the CLI too.
 */
export class ProjectionEngine {
  readonly eventStore: EventStore;
  readonly store: ProjectionStore;
  readonly readModels: ReadModelStore;
  readonly instanceId: string;
  readonly #runners = new Map<string, ProjectionRunner>();
  readonly #options: Required<
    Pick<ProjectionEngineOptions, 'leaseTtlMs' | 'pollIntervalMs' | 'reportIntervalMs'>
  > & {
    standbyPollMs: number;
  };
  readonly #serializer: EventSerializer;
  readonly #logger: Logger;
  readonly #instrumentation: Instrumentation;
  #running = false;
  #reporter: NodeJS.Timeout | undefined;

  constructor(options: ProjectionEngineOptions) {
    this.eventStore = options.eventStore;
    this.store = options.store ?? new MemoryProjectionStore();
    this.readModels = options.readModels ?? new MemoryReadModelStore();
    this.instanceId = options.instanceId ?? newId();
    const leaseTtlMs = options.leaseTtlMs ?? 5000;
    if (!(leaseTtlMs >= 100)) {
      throw new ConfigurationError('leaseTtlMs must be at least 100 ms', { leaseTtlMs });
    }
    this.#options = {
      leaseTtlMs,
      standbyPollMs: options.standbyPollMs ?? Math.max(50, Math.floor(leaseTtlMs / 5)),
      pollIntervalMs: options.pollIntervalMs ?? 250,
      reportIntervalMs: options.reportIntervalMs ?? 5000,
    };
    this.#serializer = options.serializer ?? new EventSerializer();
    this.#logger = options.logger ?? silentLogger;
    this.#instrumentation = options.instrumentation ?? noopInstrumentation;
  }

  /**
   * Registers a projection: an instance of a `@Projection` class. Its `@EventHandler` methods
   * handle their events. Registering after `start()` starts it at once.
   */
  register(projection: object): this {
    const target = projection.constructor as Constructor;
    const { name, options } = projectionMetadata(target);
    if (this.#runners.has(name)) {
      throw new ConfigurationError(`Two projections are named "${name}": projection names must be unique.`, {
        projection: name,
      });
    }
    const skip = new Set(metadataRegistry.list(SKIP_ON_REPLAY, target));
    const handlers = new Map<string, ProjectionHandlerMethod[]>();
    for (const record of metadataRegistry.getHandlers(target)) {
      if (record.kind !== 'event') continue;
      const message = metadataRegistry.getMessage(record.message);
      if (!message || message.kind !== 'event') {
        throw new ConfigurationError(
          `${target.name}.${String(record.method)} handles ${record.message.name}, which is not an @Event class.`,
          { projection: name, message: record.message.name },
        );
      }
      const list = handlers.get(message.typeName) ?? [];
      list.push({ method: record.method, skipOnReplay: skip.has(record.method) });
      handlers.set(message.typeName, list);
    }
    if (handlers.size === 0) {
      throw new ConfigurationError(`Projection ${name} (${target.name}) has no @EventHandler method.`, {
        projection: name,
      });
    }
    const batchSize = options.batchSize ?? 500;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new ConfigurationError(`Projection ${name}: batchSize must be an integer from 1 to 10000.`, {
        projection: name,
        batchSize,
      });
    }
    const definition: ProjectionDefinition = {
      name,
      className: target.name,
      instance: projection,
      handlers,
      options,
    };
    const runner = new ProjectionRunner(definition, {
      eventStore: this.eventStore,
      store: this.store,
      readModels: this.readModels,
      serializer: this.#serializer,
      logger: this.#logger,
      instrumentation: this.#instrumentation,
      owner: this.instanceId,
      leaseTtlMs: this.#options.leaseTtlMs,
      standbyPollMs: this.#options.standbyPollMs,
      pollIntervalMs: this.#options.pollIntervalMs,
    });
    this.#runners.set(name, runner);
    if (this.#running) runner.start();
    return this;
  }

  /** Names of the registered projections. */
  get names(): string[] {
    return [...this.#runners.keys()];
  }

  /** Starts every registered projection (or those named). */
  start(names?: readonly string[]): void {
    for (const name of names ?? this.names) this.#runner(name).start();
    this.#running = names === undefined || this.#running;
    if (this.#options.reportIntervalMs > 0 && !this.#reporter) {
      this.#reporter = setInterval(() => void this.#report(), this.#options.reportIntervalMs);
      this.#reporter.unref();
    }
  }

  /** Stops every runner after its batch in progress and gives the leases up. */
  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#reporter);
    this.#reporter = undefined;
    await Promise.all([...this.#runners.values()].map((runner) => runner.stop()));
  }

  /** The status of one projection (`lag` computed from the event store). */
  async status(name: string): Promise<ProjectionStatus> {
    const runner = this.#runner(name);
    const record = (await this.store.get(name)) ?? runner.record;
    return this.#status(runner, record, await this.#lag(runner, record?.position ?? START));
  }

  /** The status of every registered projection. */
  async statuses(): Promise<ProjectionStatus[]> {
    return Promise.all(this.names.map((name) => this.status(name)));
  }

  /**
   * Clears the projection's read model and checkpoint and replays every event (other projections
   * keep running). Carried out by the instance that runs the projection.
   */
  async reset(name: string): Promise<void> {
    await this.#request(name, { action: 'reset' });
  }

  /**
   * Rebuilds from the start. With `blueGreen`, the new read model is built as a new generation next
   * to the live one, which readers keep seeing until the new one has caught up; then readers switch
   * at once and the old generation is dropped. Without it, same as {@link reset}.
   */
  async rebuild(name: string, options: { blueGreen?: boolean } = {}): Promise<void> {
    if (options.blueGreen === true && this.#runner(name).blueGreen === false) {
      throw new ConfigurationError(
        `Projection ${name} has no read-model generations (blueGreen: false): rebuild it in place with reset.`,
        { projection: name },
      );
    }
    await this.#request(name, { action: 'rebuild', blueGreen: options.blueGreen ?? false });
  }

  /** Re-handles the parked events (of one stream, or all) in order, before newer events of their streams. */
  async retryParked(name: string, streamId?: string): Promise<void> {
    await this.#request(name, { action: 'retry-parked', ...(streamId !== undefined ? { streamId } : {}) });
  }

  /** Stops the projection on every instance (durable status `stopped`) until {@link resume}. */
  async pause(name: string): Promise<void> {
    await this.#request(name, { action: 'stop' });
  }

  /** Runs a stopped or faulted projection again (from its checkpoint: the failing event is retried). */
  async resume(name: string): Promise<void> {
    await this.#request(name, { action: 'start' });
  }

  /** The parked events of a projection (of one stream when given), in order. */
  async parked(name: string, streamId?: string): Promise<ParkedEvent[]> {
    this.#runner(name);
    return this.store.parked(name, streamId);
  }

  /**
   * Resolves once the projection has handled every event stored so far and has no pending request
   * or shadow build; rejects with its fault if it is faulted, or on timeout.
   */
  async waitUntilCaughtUp(name: string, options: WaitOptions = {}): Promise<ProjectionStatus> {
    const runner = this.#runner(name);
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const interval = options.intervalMs ?? 100;
    // Everything committed before this call, even if not readable yet (see EventStore.lastPosition).
    const target = this.eventStore.lastPosition
      ? await this.eventStore.lastPosition(runner.filters)
      : undefined;
    for (;;) {
      const record = await this.store.get(name);
      const pending = record === undefined || record.request !== undefined || record.shadow !== undefined;
      const behind = !record
        ? true
        : target !== undefined
          ? record.position < target
          : await this.#behind(runner, record.position);
      const status = this.#status(runner, record ?? runner.record, undefined);
      options.onProgress?.(status);
      if (record?.status === 'faulted') {
        throw new ConfigurationError(
          `Projection ${name} is faulted at ${record.error?.eventType ?? 'an event'} ${record.error?.eventId ?? ''}: ${record.error?.message ?? 'unknown error'}. Fix the handler and resume it.`,
          { projection: name, error: record.error },
        );
      }
      if (!pending && !behind && record?.status === 'running') return { ...status, lag: 0 };
      if (Date.now() > deadline) {
        throw new ConfigurationError(`Projection ${name} did not catch up in time.`, {
          projection: name,
          state: status.state,
          position: status.position,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  /** Counts the events of the projection's types after `position`. */
  async countAfter(name: string, position: GlobalPosition): Promise<number> {
    return this.#lag(this.#runner(name), position);
  }

  // ---------------------------------------------------------------------------------------------

  #runner(name: string): ProjectionRunner {
    const runner = this.#runners.get(name);
    if (!runner) throw new ProjectionNotFoundError(name, this.names);
    return runner;
  }

  async #request(name: string, request: Omit<ProjectionRequest, 'requestedAt' | 'id'>): Promise<void> {
    const runner = this.#runner(name);
    const recorded = await this.store.request(name, request);
    // Wake the local owner now instead of at its next heartbeat.
    runner.offer(recorded);
  }

  async #behind(runner: ProjectionRunner, position: GlobalPosition): Promise<boolean> {
    const batch = await this.eventStore.readAll({ after: position, limit: 1, ...runner.filters });
    return batch.events.length > 0;
  }

  async #lag(runner: ProjectionRunner, position: GlobalPosition): Promise<number> {
    if (this.eventStore.countEvents)
      return this.eventStore.countEvents({ after: position, ...runner.filters });
    let count = 0;
    let after = position;
    for (;;) {
      const batch = await this.eventStore.readAll({ after, limit: 10_000, ...runner.filters });
      count += batch.events.length;
      if (batch.endOfLog || batch.position === after) return count;
      after = batch.position;
    }
  }

  #status(
    runner: ProjectionRunner,
    record: ProjectionRecord | undefined,
    lag: number | undefined,
  ): ProjectionStatus {
    const { stats } = runner;
    const first = stats.samples[0];
    const last = stats.samples[stats.samples.length - 1];
    const seconds = first && last ? (last[0] - first[0]) / 1000 : 0;
    const live = record?.leaseExpiresAt !== undefined && record.leaseExpiresAt.getTime() > Date.now();
    return {
      name: runner.name,
      state: runner.state,
      status: record?.status ?? 'running',
      delivery: runner.transactional ? 'transactional' : 'at-least-once',
      owner: live ? record?.owner : undefined,
      ownedHere: live && record?.owner === this.instanceId,
      position: record?.position ?? START,
      lag,
      generation: record?.generation ?? 1,
      shadow: record?.shadow,
      eventsHandled: stats.eventsHandled,
      throughput: seconds > 0 ? (last![1] - first![1]) / seconds : 0,
      lastError: record?.error ?? stats.lastError,
      parked: record?.parked ?? 0,
      request: record?.request,
      timings: {
        batches: stats.batches,
        readMs: stats.readMs,
        handleMs: stats.handleMs,
        commitMs: stats.commitMs,
      },
      updatedAt: record?.updatedAt,
    };
  }

  async #report(): Promise<void> {
    for (const name of this.names) {
      try {
        const status = await this.status(name);
        if (!status.ownedHere) continue;
        const attributes = { projection: name };
        if (status.lag !== undefined)
          this.#instrumentation.gauge('potter.projection.lag', status.lag, attributes);
        this.#instrumentation.gauge('potter.projection.throughput', status.throughput, attributes);
        this.#instrumentation.gauge('potter.projection.parked', status.parked, attributes);
        this.#instrumentation.gauge(
          'potter.projection.faulted',
          status.status === 'faulted' ? 1 : 0,
          attributes,
        );
      } catch (error) {
        this.#logger.debug(`Projection ${name}: status report failed`, { error: String(error) });
      }
    }
  }
}
