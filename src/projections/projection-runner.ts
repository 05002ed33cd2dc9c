import { backoffDelay, resolveBackoff, type ResolvedBackoff } from '../core/backoff';
import { ConfigurationError, ProjectionFencedError, describeError, isPotterError } from '../core/errors';
import type { Logger } from '../core/logger';
import {
  START,
  type EventStore,
  type GlobalPosition,
  type RecordedEvent,
} from '../eventsourcing/event-store';
import type { EventSerializer } from '../eventsourcing/event-serializer';
import type { SqlClient } from '../eventsourcing/sql/sql-client';
import type { Instrumentation } from '../observability/instrumentation';
import type {
  ProjectionContext,
  ProjectionHooks,
  ProjectionMaintenanceContext,
  ProjectionOptions,
} from './projection.decorators';
import type {
  ParkRequest,
  ProgressUpdate,
  ProjectionFault,
  ProjectionLease,
  ProjectionRecord,
  ProjectionRequest,
  ProjectionStore,
} from './projection-store';
import { DocumentBuffer } from './document-buffer';
import type { ReadModelCollection, ReadModelDocument, ReadModelStore } from './read-model-store';

/** One handler method of a projection. @internal */
export interface ProjectionHandlerMethod {
  method: string | symbol;
  skipOnReplay: boolean;
}

/** A projection ready to run: its instance, handlers by event type name and options. @internal */
export interface ProjectionDefinition {
  name: string;
  className: string;
  instance: object;
  handlers: Map<string, ProjectionHandlerMethod[]>;
  options: ProjectionOptions;
}

/** What a projection is doing on this instance. */
export type ProjectionRunState =
  'stopped' | 'starting' | 'standby' | 'catching-up' | 'live' | 'rebuilding' | 'paused' | 'faulted';

/** Counters of one runner. @internal */
export interface RunnerStats {
  eventsHandled: number;
  batches: number;
  readMs: number;
  handleMs: number;
  commitMs: number;
  /** (time, events handled) samples of the last 10 s, for the throughput. */
  samples: [number, number][];
  lastError: ProjectionFault | undefined;
}

/** Shared services of the runners. @internal */
export interface RunnerServices {
  eventStore: EventStore;
  store: ProjectionStore;
  readModels: ReadModelStore;
  serializer: EventSerializer;
  logger: Logger;
  instrumentation: Instrumentation;
  owner: string;
  leaseTtlMs: number;
  standbyPollMs: number;
  pollIntervalMs: number;
}

class Stop extends Error {}

interface RunningSubscription {
  subscription: ReturnType<EventStore['subscribeToAll']>;
  /** The error that ended it, if any. */
  error(): unknown;
}

/**
 * Runs one projection on this instance: waits for its lease, then catches up from the checkpoint
 * and follows the log live, batch by batch, until stopped or the lease is lost; applies operator
 * requests (reset, rebuild, blue/green, retry of parked events) between batches. @internal
 */
export class ProjectionRunner {
  state: ProjectionRunState = 'stopped';
  readonly stats: RunnerStats = {
    eventsHandled: 0,
    batches: 0,
    readMs: 0,
    handleMs: 0,
    commitMs: 0,
    samples: [],
    lastError: undefined,
  };
  /** The record as last read or written by this runner. */
  record: ProjectionRecord | undefined;
  readonly #def: ProjectionDefinition;
  readonly #svc: RunnerServices;
  readonly #retry: ResolvedBackoff;
  readonly #transactional: boolean;
  readonly #attached = new Set<string>();
  #stopping = new AbortController();
  #main: Promise<void> | undefined;
  /** Aborted to interrupt the current tenure's wait (request, lost lease, stop). */
  #wake = new AbortController();
  #localRequest: ProjectionRequest | undefined;
  /** Id of the last request taken up (a heartbeat may still read it before it is cleared). */
  #handled: string | undefined;

  constructor(def: ProjectionDefinition, svc: RunnerServices) {
    this.#def = def;
    this.#svc = svc;
    this.#retry = resolveBackoff({
      maxAttempts: 5,
      initialDelayMs: 100,
      maxDelayMs: 5000,
      ...def.options.retry,
    });
    const delivery =
      def.options.delivery ??
      (svc.store.sql !== undefined && svc.store.sql === svc.readModels.sql
        ? 'transactional'
        : 'at-least-once');
    this.#transactional = delivery === 'transactional';
    if (this.#transactional && !svc.store.sql) {
      throw new ConfigurationError(
        `Projection ${def.name} asks for transactional delivery, which needs a SQL projection store (SqlProjectionStore) in the read model's database.`,
        { projection: def.name },
      );
    }
  }

  get name(): string {
    return this.#def.name;
  }

  get transactional(): boolean {
    return this.#transactional;
  }

  /** The event type names this projection handles. */
  /** False when the projection's read model has no generations (no blue/green rebuild). */
  get blueGreen(): boolean {
    return this.#def.options.blueGreen !== false;
  }

  get eventTypes(): string[] {
    return [...this.#def.handlers.keys()];
  }

  /** The filters of the projection's reads: its event types, stream prefix and start time. */
  get filters(): { eventTypes: string[]; streamIdPrefix?: string; from?: Date } {
    return {
      eventTypes: this.eventTypes,
      ...(this.#def.options.streamIdPrefix !== undefined
        ? { streamIdPrefix: this.#def.options.streamIdPrefix }
        : {}),
      ...(this.#def.options.startFrom instanceof Date ? { from: this.#def.options.startFrom } : {}),
    };
  }

  /** Starts the runner's loop (returns at once). */
  start(): void {
    if (this.#main) return;
    this.#stopping = new AbortController();
    this.state = 'starting';
    this.#main = this.#loop().finally(() => {
      this.state = 'stopped';
      this.#main = undefined;
    });
  }

  /** Stops after the batch in progress and gives the lease up. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#wake.abort();
    await this.#main;
  }

  /** Hands a request to this runner if it holds the lease; `false` otherwise. */
  offer(request: ProjectionRequest): boolean {
    if (this.state === 'stopped' || this.state === 'standby' || this.state === 'starting') return false;
    this.#take(request);
    this.#wake.abort();
    return true;
  }

  /** Queues a request for the tenure loop, unless it is already queued or was carried out. */
  #take(request: ProjectionRequest): void {
    if (request.id === this.#handled || request.id === this.#localRequest?.id) return;
    this.#localRequest = request;
    this.#wake.abort();
  }

  // ---------------------------------------------------------------------------------------------

  async #loop(): Promise<void> {
    let failures = 0;
    while (!this.#stopping.signal.aborted) {
      let acquired: Awaited<ReturnType<ProjectionStore['acquire']>>;
      try {
        acquired = await this.#svc.store.acquire(this.name, this.#svc.owner, this.#svc.leaseTtlMs, {
          position: await this.#initialPosition(),
        });
        failures = 0;
      } catch (error) {
        failures++;
        this.#svc.logger.error(
          `Projection ${this.name}: cannot take its lease (projection or event store unavailable?)`,
          {
            error: describeError(error),
          },
        );
        await this.#pause(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
        continue;
      }
      if (!acquired) {
        this.state = 'standby';
        await this.#pause(this.#svc.standbyPollMs);
        continue;
      }
      this.record = acquired.record;
      try {
        await this.#tenure(acquired.lease);
      } catch (error) {
        if (error instanceof ProjectionFencedError) {
          this.#svc.logger.warn(`Projection ${this.name}: lease lost, another instance runs it now`, {
            token: acquired.lease.token,
          });
        } else if (!(error instanceof Stop)) {
          failures++;
          this.#svc.logger.error(`Projection ${this.name} failed; retrying`, { error: describeError(error) });
          await this.#pause(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
        }
      }
    }
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

  async #initialPosition(): Promise<GlobalPosition> {
    if (this.#def.options.startFrom !== 'head') return START;
    // The last committed event, even one not readable yet (older transactions still open).
    if (this.#svc.eventStore.lastPosition) return this.#svc.eventStore.lastPosition();
    // Reading with a filter that matches nothing moves the position to the end of the log.
    let position = START;
    for (;;) {
      const batch = await this.#svc.eventStore.readAll({
        after: position,
        limit: 10_000,
        eventTypes: ['\u0001potter:none'],
      });
      if (batch.position === position || batch.endOfLog) return batch.position;
      position = batch.position;
    }
  }

  /** Runs the projection while this instance holds `lease`. */
  async #tenure(lease: ProjectionLease): Promise<void> {
    const lost = new AbortController();
    const heartbeat = setInterval(
      () => {
        this.#svc.store.renew(lease, this.#svc.leaseTtlMs).then(
          async (ok) => {
            if (!ok) {
              lost.abort();
              this.#wake.abort();
              return;
            }
            const record = await this.#svc.store.get(this.name);
            if (record?.request) this.#take(record.request);
          },
          (error: unknown) =>
            this.#svc.logger.warn(`Projection ${this.name}: lease renewal failed`, {
              error: describeError(error),
            }),
        );
      },
      Math.max(50, Math.floor(this.#svc.leaseTtlMs / 3)),
    );
    heartbeat.unref();
    try {
      // A request recorded while nobody held the lease.
      if (this.record?.request) this.#take(this.record.request);
      while (!this.#stopping.signal.aborted && !lost.signal.aborted) {
        this.#wake = new AbortController();
        if (this.#localRequest) {
          const request = this.#localRequest;
          this.#localRequest = undefined;
          this.#handled = request.id;
          await this.#handleRequest(lease, request);
          continue;
        }
        const record = this.record!;
        if (record.status !== 'running') {
          this.state = record.status === 'faulted' ? 'faulted' : 'paused';
          await waitFor(this.#wake.signal);
          continue;
        }
        await this.#follow(lease);
      }
      if (lost.signal.aborted) throw new ProjectionFencedError(this.name, lease.token);
    } finally {
      clearInterval(heartbeat);
      if (!lost.signal.aborted) {
        await this.#svc.store.release(lease).catch(() => undefined);
      }
      if (this.state !== 'stopped') this.state = 'standby';
    }
  }

  /** Follows the log (and builds the shadow generation, if any) until woken. */
  async #follow(lease: ProjectionLease): Promise<void> {
    const record = this.record!;
    this.state = record.shadow ? 'rebuilding' : 'catching-up';
    const parked = await this.#svc.store.parked(this.name);
    const parkedIn = (generation: number): Set<string> =>
      new Set(parked.filter((p) => p.generation === generation).map((p) => p.streamId));
    const parkedStreams = parkedIn(record.generation);
    const live = this.#subscribe(lease, record.position, record.generation, false, parkedStreams);
    let shadow: RunningSubscription | undefined;
    let shadowCaughtUp = false;
    if (record.shadow) {
      shadow = this.#subscribe(
        lease,
        record.shadow.position,
        record.shadow.generation,
        true,
        parkedIn(record.shadow.generation),
      );
      shadow.subscription.caughtUp().then(
        () => {
          shadowCaughtUp = true;
          this.#wake.abort();
        },
        () => undefined,
      );
    } else {
      void live.subscription.caughtUp().then(
        () => {
          if (this.state === 'catching-up') this.state = 'live';
        },
        () => undefined,
      );
    }
    const failed = Promise.race([live.subscription.done, shadow?.subscription.done ?? new Promise(() => {})]);
    try {
      await Promise.race([waitFor(this.#wake.signal), failed]);
    } catch {
      // A subscription ended with an error: handled below when stopping it.
    }
    await stopQuietly(live.subscription);
    if (shadow) {
      if (shadowCaughtUp && !this.#stopping.signal.aborted && !this.#localRequest) {
        // The shadow caught up: let it catch up once more with the live side stopped, then swap.
        await shadow.subscription.caughtUp().catch(() => undefined);
        await stopQuietly(shadow.subscription);
        await this.#swap(lease);
      } else {
        await stopQuietly(shadow.subscription);
      }
    }
    const error = live.error() ?? shadow?.error();
    if (error && !(error instanceof Stop)) throw error;
  }

  #subscribe(
    lease: ProjectionLease,
    after: GlobalPosition,
    generation: number,
    shadow: boolean,
    parkedStreams: Set<string>,
  ): RunningSubscription {
    let failure: unknown;
    let lastReturn = performance.now();
    const subscription = this.#svc.eventStore.subscribeToAll(
      async (events) => {
        const started = performance.now();
        this.stats.readMs += started - lastReturn;
        try {
          await this.#batch(lease, events, generation, shadow, parkedStreams);
        } catch (error) {
          failure = error;
          throw error;
        } finally {
          lastReturn = performance.now();
        }
      },
      {
        after,
        batchSize: this.#def.options.batchSize ?? 500,
        pollIntervalMs: this.#svc.pollIntervalMs,
        ...this.filters,
      },
    );
    return { subscription, error: () => failure };
  }

  // ---------------------------------------------------------------------------------------------

  /** Handles one batch: one transaction when possible, else event by event with retries. */
  async #batch(
    lease: ProjectionLease,
    events: RecordedEvent[],
    generation: number,
    shadow: boolean,
    parkedStreams: Set<string>,
  ): Promise<void> {
    if (this.#stopping.signal.aborted) throw new Stop();
    const last = events[events.length - 1]!;
    if (this.#transactional) {
      try {
        await this.#inTransaction(lease, async (tx, pending) => {
          const park: ParkRequest[] = [];
          const handleStart = performance.now();
          for (const event of events) {
            if (parkedStreams.has(event.streamId))
              park.push({ event, reason: parkedReason(event), generation });
            else await this.#apply(event, generation, tx, pending);
          }
          this.stats.handleMs += performance.now() - handleStart;
          await this.#commitProgress(lease, last.position, shadow, generation, park, tx);
        });
        this.#count(events.length);
        return;
      } catch (error) {
        if (error instanceof ProjectionFencedError || error instanceof Stop) throw error;
        // Isolate the failing event: one transaction per event, with retries.
      }
      for (const event of events) {
        await this.#one(lease, event, generation, shadow, parkedStreams);
      }
      return;
    }
    // At-least-once: handle each event (with retries), then record the batch's position.
    const park: ParkRequest[] = [];
    const handleStart = performance.now();
    let done = 0;
    for (const event of events) {
      if (parkedStreams.has(event.streamId)) {
        park.push({ event, reason: parkedReason(event), generation });
        done++;
        continue;
      }
      const outcome = await this.#attempts(event, () => this.#apply(event, generation, undefined, 0));
      if (outcome !== 'ok' && this.#def.options.onError === 'park') {
        park.push({ event, reason: outcome.reason, generation });
        parkedStreams.add(event.streamId);
      } else if (outcome !== 'ok') {
        this.stats.handleMs += performance.now() - handleStart;
        // Keep what was handled before the failing event, then stop in front of it.
        if (done > 0) {
          await this.#commitProgress(lease, events[done - 1]!.position, shadow, generation, park, undefined);
          await this.#attachPending(undefined);
        }
        await this.#fault(lease, event, outcome, shadow, generation, [], undefined);
      }
      done++;
    }
    this.stats.handleMs += performance.now() - handleStart;
    const commitStart = performance.now();
    await this.#commitProgress(lease, last.position, shadow, generation, park, undefined);
    this.stats.commitMs += performance.now() - commitStart;
    await this.#attachPending(undefined);
    this.#count(events.length);
  }

  /** One event in its own transaction, with retries; then the failure policy. */
  async #one(
    lease: ProjectionLease,
    event: RecordedEvent,
    generation: number,
    shadow: boolean,
    parkedStreams: Set<string>,
  ): Promise<void> {
    if (parkedStreams.has(event.streamId)) {
      await this.#inTransaction(lease, (tx) =>
        this.#commitProgress(
          lease,
          event.position,
          shadow,
          generation,
          [{ event, reason: parkedReason(event), generation }],
          tx,
        ),
      );
      return;
    }
    const outcome = await this.#attempts(event, () =>
      this.#inTransaction(lease, async (tx, pending) => {
        await this.#apply(event, generation, tx, pending);
        await this.#commitProgress(lease, event.position, shadow, generation, [], tx);
      }),
    );
    if (outcome === 'ok') {
      this.#count(1);
      return;
    }
    if (this.#def.options.onError === 'park') {
      await this.#inTransaction(lease, (tx) =>
        this.#commitProgress(
          lease,
          event.position,
          shadow,
          generation,
          [{ event, reason: outcome.reason, generation }],
          tx,
        ),
      );
      parkedStreams.add(event.streamId);
      return;
    }
    await this.#fault(lease, event, outcome, shadow, generation, [], undefined);
  }

  /** Records the fault (status `faulted`, position before the event) and ends the subscription. */
  async #fault(
    lease: ProjectionLease,
    event: RecordedEvent,
    outcome: { reason: string; code: string; attempts: number },
    shadow: boolean,
    generation: number,
    park: ParkRequest[],
    tx: SqlClient | undefined,
  ): Promise<never> {
    const fault: ProjectionFault = {
      message: outcome.reason,
      code: outcome.code,
      eventId: event.id,
      streamId: event.streamId,
      eventType: event.type,
      position: event.position,
      attempts: outcome.attempts,
      at: new Date().toISOString(),
    };
    this.stats.lastError = fault;
    const update: ProgressUpdate = { status: 'faulted', error: fault, park };
    await this.#svc.store.commit(lease, update, tx);
    this.record = {
      ...this.record!,
      status: 'faulted',
      error: fault,
      parked: this.record!.parked + park.length,
    };
    this.#svc.logger.error(`Projection ${this.name} stopped: ${event.type} ${event.id} failed`, {
      ...fault,
      shadow,
      generation,
    });
    this.#svc.instrumentation.count('potter.projection.faults', 1, { projection: this.name });
    this.#wake.abort();
    throw new Stop();
  }

  /** Runs `attempt` up to the retry policy's attempts. */
  async #attempts(
    event: RecordedEvent,
    attempt: (n: number) => Promise<void>,
  ): Promise<'ok' | { reason: string; code: string; attempts: number }> {
    for (let n = 1; ; n++) {
      try {
        await attempt(n);
        return 'ok';
      } catch (error) {
        if (error instanceof ProjectionFencedError || error instanceof Stop) throw error;
        this.#svc.logger.warn(`Projection ${this.name}: ${event.type} ${event.id} failed (attempt ${n})`, {
          error: describeError(error),
        });
        if (n >= this.#retry.maxAttempts || this.#stopping.signal.aborted) {
          return {
            reason: describeError(error),
            code: isPotterError(error) ? error.code : error instanceof Error ? error.name : 'Error',
            attempts: n,
          };
        }
        await this.#pause(backoffDelay(this.#retry, n));
      }
    }
  }

  async #inTransaction(
    lease: ProjectionLease,
    fn: (tx: SqlClient, pending: Set<string>) => Promise<void>,
  ): Promise<void> {
    const pending = new Set<string>();
    const sql = this.#svc.store.sql!;
    let finished = 0;
    this.#afterCommit = [];
    try {
      await this.#transaction(sql, async (tx) => {
        await fn(tx, pending);
        for (const collection of pending) await this.#svc.readModels.attach(collection, this.name, tx);
        finished = performance.now();
      });
    } catch (error) {
      this.#afterCommit = [];
      throw error;
    }
    this.stats.commitMs += performance.now() - finished;
    for (const remember of this.#afterCommit.splice(0)) remember();
    for (const collection of pending) this.#attached.add(collection);
    void lease;
  }

  /**
   * A transaction that PostgreSQL ends by itself if this process stalls inside it for longer than
   * the lease (paused, swapped out, cut off): its row locks would otherwise keep the instance that
   * takes the lease over waiting indefinitely.
   */
  async #transaction<T>(sql: SqlClient, fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return sql.transaction(async (tx) => {
      await tx.query(`SET LOCAL idle_in_transaction_session_timeout = ${Math.ceil(this.#svc.leaseTtlMs)}`);
      return fn(tx);
    });
  }

  readonly #pendingAttach = new Set<string>();
  /** The read-model writes of each open batch transaction, flushed before its checkpoint. */
  readonly #buffers = new WeakMap<SqlClient, DocumentBuffer>();

  #buffer(tx: SqlClient, generation: number): DocumentBuffer {
    let buffer = this.#buffers.get(tx);
    if (!buffer) this.#buffers.set(tx, (buffer = new DocumentBuffer(this.#svc.readModels, generation, tx)));
    return buffer;
  }

  async #flush(tx: SqlClient | undefined): Promise<void> {
    if (tx) await this.#buffers.get(tx)?.flush();
  }
  #afterCommit: (() => void)[] = [];

  async #attachPending(tx: SqlClient | undefined): Promise<void> {
    for (const collection of this.#pendingAttach) {
      await this.#svc.readModels.attach(collection, this.name, tx);
      this.#attached.add(collection);
    }
    this.#pendingAttach.clear();
  }

  async #commitProgress(
    lease: ProjectionLease,
    position: GlobalPosition,
    shadow: boolean,
    generation: number,
    park: ParkRequest[],
    tx: SqlClient | undefined,
  ): Promise<void> {
    const highWater = this.record!.highWater;
    const update: ProgressUpdate = shadow
      ? { shadow: { generation, position } }
      : { position, ...(position > highWater ? { highWater: position } : {}) };
    if (park.length > 0) update.park = park;
    await this.#flush(tx);
    await this.#svc.store.commit(lease, update, tx);
    // In a transaction, the in-memory record follows only once the transaction commits.
    const remember = (): void => {
      const record = this.record!;
      this.record = shadow
        ? { ...record, shadow: { generation, position }, parked: record.parked + park.length }
        : {
            ...record,
            position,
            highWater: position > record.highWater ? position : record.highWater,
            parked: record.parked + park.length,
          };
    };
    if (tx) this.#afterCommit.push(remember);
    else remember();
  }

  /** Calls the projection's handlers of one event. */
  async #apply(
    event: RecordedEvent,
    generation: number,
    tx: SqlClient | undefined,
    pending: Set<string> | number,
  ): Promise<void> {
    const handlers = this.#def.handlers.get(event.type);
    if (!handlers) return;
    const replaying = event.position <= (this.record?.highWater ?? START);
    const domain = this.#svc.serializer.toDomainEvent(event);
    const context = this.#context(event, generation, tx, replaying, pending);
    const instance = this.#def.instance as Record<string | symbol, unknown>;
    for (const handler of handlers) {
      if (replaying && handler.skipOnReplay) continue;
      await (instance[handler.method] as (e: object, c: ProjectionContext) => unknown).call(
        instance,
        domain,
        context,
      );
    }
  }

  #context(
    event: RecordedEvent,
    generation: number,
    tx: SqlClient | undefined,
    replaying: boolean,
    pending: Set<string> | number,
  ): ProjectionContext {
    const readModels = this.#svc.readModels;
    const attached = this.#attached;
    const pendingAttach = this.#pendingAttach;
    const buffer = tx ? this.#buffer(tx, generation) : undefined;
    return {
      projection: this.name,
      event,
      replaying,
      generation,
      transaction: tx,
      readModel<T extends ReadModelDocument>(collection: string): ReadModelCollection<T> {
        if (!attached.has(collection)) {
          if (pending instanceof Set) pending.add(collection);
          else pendingAttach.add(collection);
        }
        return buffer
          ? buffer.collection<T>(collection)
          : readModels.collection<T>(collection, { generation });
      },
    };
  }

  #maintenance(generation: number, tx: SqlClient | undefined): ProjectionMaintenanceContext {
    const readModels = this.#svc.readModels;
    return {
      projection: this.name,
      generation,
      transaction: tx,
      readModel: <T extends ReadModelDocument>(collection: string): ReadModelCollection<T> =>
        readModels.collection<T>(collection, { generation, ...(tx ? { tx } : {}) }),
    };
  }

  #count(n: number): void {
    this.stats.eventsHandled += n;
    this.stats.batches++;
    const now = Date.now();
    this.stats.samples.push([now, this.stats.eventsHandled]);
    while (this.stats.samples.length > 2 && this.stats.samples[0]![0] < now - 10_000)
      this.stats.samples.shift();
    this.#svc.instrumentation.count('potter.projection.events', n, { projection: this.name });
  }

  // ---------------------------------------------------------------------------------------------

  /** Applies an operator request while no subscription runs. */
  async #handleRequest(lease: ProjectionLease, request: ProjectionRequest): Promise<void> {
    const record = this.record!;
    this.#svc.logger.info(
      `Projection ${this.name}: ${request.action}${request.blueGreen ? ' (blue/green)' : ''}`,
    );
    switch (request.action) {
      case 'stop':
        await this.#svc.store.commit(lease, { status: 'stopped', clearRequest: request.id });
        this.record = { ...record, status: 'stopped', request: undefined };
        return;
      case 'start':
        await this.#svc.store.commit(lease, { status: 'running', error: null, clearRequest: request.id });
        this.record = { ...record, status: 'running', error: undefined, request: undefined };
        return;
      case 'retry-parked':
        await this.#retryParked(lease, request);
        return;
      case 'reset':
      case 'rebuild':
        // A projection without generations never builds a shadow (a request recorded by another
        // tool still rebuilds it, in place).
        if (request.action === 'rebuild' && request.blueGreen && this.#def.options.blueGreen !== false)
          await this.#startShadow(lease, request);
        else await this.#reset(lease, request);
        return;
    }
  }

  /** Clears the read model and the checkpoint (and parked events); replay starts from the beginning. */
  async #reset(lease: ProjectionLease, request: ProjectionRequest): Promise<void> {
    const record = this.record!;
    const parked = (await this.#svc.store.parked(this.name)).map((p) => p.seq);
    const run = async (tx: SqlClient | undefined): Promise<void> => {
      await this.#svc.readModels.dropGeneration(this.name, record.generation, tx);
      if (record.shadow) await this.#svc.readModels.dropGeneration(this.name, record.shadow.generation, tx);
      await (this.#def.instance as ProjectionHooks).reset?.(this.#maintenance(record.generation, tx));
      await this.#svc.store.commit(
        lease,
        {
          position: START,
          status: 'running',
          error: null,
          shadow: null,
          unpark: parked,
          clearRequest: request.id,
        },
        tx,
      );
    };
    if (this.#svc.store.sql) await this.#transaction(this.#svc.store.sql, run);
    else await run(undefined);
    this.record = {
      ...record,
      position: START,
      status: 'running',
      error: undefined,
      shadow: undefined,
      request: undefined,
      parked: 0,
    };
    this.stats.lastError = undefined;
  }

  /** Starts a blue/green rebuild: an empty next generation, built from the start next to the live one. */
  async #startShadow(lease: ProjectionLease, request: ProjectionRequest): Promise<void> {
    const record = this.record!;
    const generation = record.generation + 1;
    const run = async (tx: SqlClient | undefined): Promise<void> => {
      await this.#svc.readModels.dropGeneration(this.name, generation, tx);
      await (this.#def.instance as ProjectionHooks).reset?.(this.#maintenance(generation, tx));
      await this.#svc.store.commit(
        lease,
        {
          shadow: { generation, position: START },
          dropParkedGeneration: generation,
          clearRequest: request.id,
        },
        tx,
      );
    };
    if (this.#svc.store.sql) await this.#transaction(this.#svc.store.sql, run);
    else await run(undefined);
    this.record = { ...record, shadow: { generation, position: START }, request: undefined };
  }

  /** Readers switch to the shadow generation, which becomes the live one; the old one is dropped. */
  async #swap(lease: ProjectionLease): Promise<void> {
    const record = this.record!;
    const shadow = record.shadow!;
    const old = record.generation;
    const run = async (tx: SqlClient | undefined): Promise<void> => {
      await this.#svc.readModels.activate(this.name, shadow.generation, tx);
      await this.#svc.store.commit(
        lease,
        {
          generation: shadow.generation,
          position: shadow.position,
          ...(shadow.position > record.highWater ? { highWater: shadow.position } : {}),
          shadow: null,
          // The old generation's parked events went with it; the shadow re-handled (or re-parked) them.
          dropParkedGeneration: old,
        },
        tx,
      );
    };
    if (this.#svc.store.sql) await this.#transaction(this.#svc.store.sql, run);
    else await run(undefined);
    this.record = {
      ...record,
      generation: shadow.generation,
      position: shadow.position,
      highWater: shadow.position > record.highWater ? shadow.position : record.highWater,
      shadow: undefined,
    };
    this.#svc.logger.info(`Projection ${this.name}: generation ${shadow.generation} is live`);
    const drop = async (tx: SqlClient | undefined): Promise<void> => {
      await this.#svc.readModels.dropGeneration(this.name, old, tx);
      await (this.#def.instance as ProjectionHooks).dropGeneration?.(this.#maintenance(old, tx));
    };
    try {
      if (this.#svc.store.sql) await this.#transaction(this.#svc.store.sql, drop);
      else await drop(undefined);
    } catch (error) {
      this.#svc.logger.warn(`Projection ${this.name}: could not drop generation ${old}`, {
        error: describeError(error),
      });
    }
  }

  /** Re-handles parked events in order (per stream); stops a stream at its first failure again. */
  async #retryParked(lease: ProjectionLease, request: ProjectionRequest): Promise<void> {
    // Events parked by a shadow build are retried by it, once its generation is live.
    const current = this.record!.generation;
    const parked = (await this.#svc.store.parked(this.name, request.streamId)).filter(
      (p) => p.generation === current,
    );
    const failedStreams = new Set<string>();
    const generation = this.record!.generation;
    for (const entry of parked) {
      if (failedStreams.has(entry.streamId)) continue;
      const outcome = await this.#attempts(entry.event, () => {
        const work = async (tx: SqlClient | undefined): Promise<void> => {
          const pending = new Set<string>();
          await this.#apply(entry.event, generation, tx, pending);
          await this.#flush(tx);
          for (const c of pending) await this.#svc.readModels.attach(c, this.name, tx);
          await this.#svc.store.commit(lease, { unpark: [entry.seq] }, tx);
        };
        return this.#transactional ? this.#transaction(this.#svc.store.sql!, work) : work(undefined);
      });
      if (outcome === 'ok') {
        this.#count(1);
        continue;
      }
      failedStreams.add(entry.streamId);
      this.stats.lastError = {
        message: outcome.reason,
        code: outcome.code,
        eventId: entry.event.id,
        streamId: entry.streamId,
        eventType: entry.event.type,
        position: entry.event.position,
        attempts: outcome.attempts,
        at: new Date().toISOString(),
      };
    }
    await this.#svc.store.commit(lease, { clearRequest: request.id });
    const record = await this.#svc.store.get(this.name);
    if (record) this.record = record;
  }
}

function parkedReason(event: RecordedEvent): string {
  return `stream ${event.streamId} has parked events: parked in order behind them`;
}

function waitFor(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

async function stopQuietly(subscription: { stop(): Promise<void> }): Promise<void> {
  await subscription.stop().catch(() => undefined);
}
