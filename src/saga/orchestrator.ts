import { backoffDelay, resolveBackoff, type BackoffOptions } from '../core/backoff';
import { systemClock, type Clock } from '../core/clock';
import type { MessageContext } from '../core/message-context';
import { ConfigurationError, TimeoutError, isPotterError } from '../core/errors';
import { newId } from '../core/ids';
import { createConsoleLogger, type Logger } from '../core/logger';
import type { DispatchMetadata } from '../core/envelope';
import type { HandlerEntry } from '../cqrs/handler-descriptor';
import type { Machine } from '../fsm/machine';
import type { SimpleEvents } from '../fsm/types';
import { metadataRegistry } from '../metadata/metadata-registry';
import type { SagaDefinition } from './define-saga';
import { sagaNameOf } from './saga-metadata';
import { IDEMPOTENCY_KEY_HEADER, SAGA_ID_HEADER } from './headers';
import {
  SagaAbortedError,
  SagaCancelledError,
  SagaConflictError,
  SagaNotFoundError,
  SagaOwnershipLostError,
  SagaStateError,
  errorInfo,
  isInterruption,
} from './errors';
import { SETTLED_SAGA_STATUSES, sagaLifecycle, type SagaLifecycleEvent } from './lifecycle';
import { MemorySagaStore, UNFINISHED_SAGA_STATUSES, type SagaLease, type SagaStore } from './saga-store';
import type { TimerService } from './timer-service';
import { delay, systemTimers, type SagaTimers } from './timers';
import type {
  NamedStep,
  ParallelNode,
  SagaErrorInfo,
  SagaEvent,
  SagaEventPublisher,
  SagaEventType,
  SagaState,
  SagaStatus,
  StepArgs,
  StepOptions,
  WaitForOptions,
} from './types';

/** The command bus as the orchestrator uses it (`CommandBus` fits). */
export interface SagaCommandDispatcher {
  execute(command: object, options?: { metadata?: DispatchMetadata }): Promise<unknown>;
}

/** The event bus as the orchestrator uses it (`EventBus` fits). */
export interface SagaEventSubscriber {
  subscribe(eventClass: Function, entry: HandlerEntry): () => void;
}

/** Options of {@link SagaOrchestrator}. */
export interface SagaOrchestratorOptions {
  /** Where the state goes after every transition. Default: a new {@link MemorySagaStore}. */
  readonly store?: SagaStore;
  /** Receives every saga event, in order, after the state it describes is saved. */
  readonly publish?: SagaEventPublisher;
  /** Time source of timestamps and deadlines. Default: the system clock. */
  readonly clock?: Clock;
  /** In-process timers of step timeouts, retry delays and the orchestrator's loops. Default: `setTimeout`. */
  readonly timers?: SagaTimers;
  /**
   * Durable timers for saga deadlines (`timeoutMs` of the definition): the deadline fires once,
   * on any instance, even if the owner died. Without it the owner's in-process timer and the
   * persisted `deadlineAt` (checked on resume) enforce the deadline.
   */
  readonly timerService?: TimerService;
  /** Random source of the backoff jitter, in [0, 1). Default: `Math.random`. */
  readonly random?: () => number;
  /** Generates saga ids. Default: UUID v7. */
  readonly newId?: () => string;
  /** Where failures of the publisher and the loops are reported. Default: console logger. */
  readonly logger?: Logger;
  /**
   * This instance's owner id in the store. Default: a new UUID. Give a stable id (one per running
   * process, e.g. the host name) and a restarted process resumes the sagas its previous life held
   * at once, instead of after their leases expire.
   */
  readonly instanceId?: string;
  /**
   * How long a hold on a saga lasts without renewal; the holder renews every third of it. A saga
   * whose owner died is resumed by another instance after at most this long. Default: 30 s.
   */
  readonly leaseMs?: number;
  /** How often a started orchestrator claims sagas nobody holds. Default: `leaseMs / 2`. */
  readonly resumeIntervalMs?: number;
  /** How many sagas one claim takes. Default: 100. */
  readonly resumeBatchSize?: number;
  /** For {@link StepArgs.dispatch}. */
  readonly commandBus?: SagaCommandDispatcher;
  /** For {@link StepArgs.waitFor}. */
  readonly eventBus?: SagaEventSubscriber;
  /** How often the handle of a saga run by another instance polls the store. Default: 250 ms. */
  readonly resultPollMs?: number;
}

/** Options of {@link SagaOrchestrator.start}. */
export interface StartSagaOptions {
  /** The saga id. Default: a new UUID v7. */
  readonly sagaId?: string;
  /** At most one open saga (unfinished, or `compensation_failed`) of this type per business key. */
  readonly businessKey?: string;
  /**
   * What a start does when an open saga of this type has the business key: `'reject'` (throw
   * {@link SagaConflictError}) or `'join'` (return the open saga's handle). Default: `'reject'`.
   */
  readonly onConflict?: 'reject' | 'join';
  /** Carried by every event. Default: the saga id. */
  readonly correlationId?: string;
}

/** A saga. */
export interface SagaHandle<Ctx> {
  readonly sagaId: string;
  /** The status when last seen by this instance. */
  readonly status: SagaStatus;
  /** A copy of the state when last seen by this instance. */
  readonly state: SagaState<Ctx>;
  /**
   * Resolves with the state once the saga settles: `completed`, `failed`, `compensated`,
   * `cancelled`, `resolved` or `compensation_failed` (never rejects for a failed step; rejects when
   * the store fails or this instance loses the saga to another, leaving it to that instance).
   */
  readonly result: Promise<SagaState<Ctx>>;
}

const DEFAULT_COMPENSATION_RETRY: BackoffOptions = { maxAttempts: 3 };
const NO_RETRY: BackoffOptions = { maxAttempts: 1 };
const TIMEOUT_REQUEST = 'potter:timeout';
const DEADLINE_TIMER = 'potter.saga.deadline';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A handle's result may never be awaited (fire-and-forget sagas): do not report it as unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

type RunState<Ctx> = Mutable<SagaState<Ctx>> & {
  completedSteps: string[];
  skippedSteps: string[];
  compensatedSteps: string[];
  attempts: Record<string, number>;
  compensationAttempts: Record<string, number>;
  nextAttemptAt?: Record<string, number>;
  compensationRoundStart?: Record<string, number>;
};

interface SagaRun<Ctx> {
  readonly definition: SagaDefinition<Ctx>;
  readonly machine: Machine<SagaStatus, SimpleEvents<SagaLifecycleEvent>, undefined>;
  readonly controller: AbortController;
  /** Aborted only when the run is detached (compensations are not cut short by a cancellation). */
  readonly detachController: AbortController;
  readonly steps: Map<string, StepOptions<Ctx>>;
  state: RunState<Ctx>;
  /** Set once the forward path is over (cancel is refused from then on). */
  forwardDone: boolean;
  /**
   * Resumed run: the steps whose attempt was in flight when the previous owner stopped. Each is
   * run again; one the forward path never gets back to (the saga is cancelled or timed out first)
   * is compensated, its effect being unknown.
   */
  readonly inFlight: Set<string>;
  /** Resumed run: the compensation in flight when the previous owner stopped (run again, same attempt). */
  compensationInFlight: string | undefined;
  /** Set when this instance no longer holds the saga (lost lease, or stopping): nothing more is written. */
  detached: SagaOwnershipLostError | undefined;
  /** Saves and publications, chained so they happen in order. */
  chain: Promise<void>;
  /** Events of deferred transitions, published after the next save (which includes them). */
  deferred: SagaEvent[];
  /** False until the saga's first save (its creation) succeeded: there is no lease to renew yet. */
  stored: boolean;
  settled: Deferred<SagaState<Ctx>>;
}

/**
 * Runs sagas: steps in order, parallel groups, conditional steps, retries with backoff, step and
 * saga timeouts, cancellation, compensation in reverse order, and the operator's
 * `retryCompensation` / `markResolved` for a saga left `compensation_failed`.
 *
 * The state is saved after every transition. Started (`start()`), the orchestrator resumes every
 * unfinished saga of a registered definition that no live instance holds, keeps renewing its hold
 * on the sagas it runs, and claims sagas whose owner died. A step interrupted by a crash is run
 * again with the same idempotency key; a compensation likewise.
 */
export class SagaOrchestrator {
  readonly store: SagaStore;
  /** This instance's owner id in the store. */
  readonly instanceId: string;
  readonly #publish: SagaEventPublisher | undefined;
  readonly #clock: Clock;
  readonly #timers: SagaTimers;
  readonly #timerService: TimerService | undefined;
  readonly #random: () => number;
  readonly #newId: () => string;
  readonly #logger: Logger;
  readonly #lease: SagaLease;
  readonly #resumeIntervalMs: number;
  readonly #resumeBatchSize: number;
  readonly #commandBus: SagaCommandDispatcher | undefined;
  readonly #eventBus: SagaEventSubscriber | undefined;
  readonly #resultPollMs: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #definitions = new Map<string, SagaDefinition<any>>();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #runs = new Map<string, SagaRun<any>>();
  #resuming = false;
  #stopped = false;
  #claimTimer: (() => void) | undefined;
  #heartbeatTimer: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();

  constructor(options: SagaOrchestratorOptions = {}) {
    this.store = options.store ?? new MemorySagaStore({ ...(options.clock ? { clock: options.clock } : {}) });
    this.#publish = options.publish;
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? systemTimers;
    this.#timerService = options.timerService;
    this.#random = options.random ?? Math.random;
    this.#newId = options.newId ?? newId;
    this.#logger = options.logger ?? createConsoleLogger();
    this.instanceId = options.instanceId ?? newId();
    const leaseMs = options.leaseMs ?? 30_000;
    if (!(leaseMs > 0))
      throw new ConfigurationError('SagaOrchestrator: leaseMs must be positive.', { leaseMs });
    this.#lease = { owner: this.instanceId, leaseMs };
    this.#resumeIntervalMs = options.resumeIntervalMs ?? leaseMs / 2;
    this.#resumeBatchSize = options.resumeBatchSize ?? 100;
    this.#commandBus = options.commandBus;
    this.#eventBus = options.eventBus;
    this.#resultPollMs = options.resultPollMs ?? 250;
    this.#timerService?.handle<{ sagaId: string }>(DEADLINE_TIMER, (timer) =>
      this.#onDeadline(timer.payload.sagaId),
    );
  }

  /**
   * Makes a definition known, so its unfinished sagas can be resumed and operator actions run on
   * sagas started elsewhere. `start` registers its definition too.
   *
   * @throws ConfigurationError when another definition has the same name.
   */
  register<Ctx>(definition: SagaDefinition<Ctx>): this {
    const known = this.#definitions.get(definition.name);
    if (known !== undefined && known !== definition) {
      throw new ConfigurationError(`Two saga definitions are named ${definition.name}.`, {
        saga: definition.name,
      });
    }
    this.#definitions.set(definition.name, definition);
    return this;
  }

  /** The registered definitions, by name. */
  definitions(): ReadonlyMap<string, SagaDefinition<unknown>> {
    return this.#definitions;
  }

  /**
   * Starts resuming: claims every unfinished saga of a registered definition that no live instance
   * holds and runs it on from its last saved state, then claims orphaned sagas (whose owner died)
   * every `resumeIntervalMs`. Resolves after the first claim round; when that round fails (the
   * store is down), rejects with its error, and the next rounds go on. (The holds of the sagas
   * running here are renewed whether or not `resume` was called.)
   */
  async resume(): Promise<void> {
    if (this.#resuming) return;
    this.#resuming = true;
    try {
      await this.#timerService?.start();
    } catch (error) {
      this.#resuming = false;
      throw error;
    }
    // On the loop, so that stop() waits for it. Nothing runs here yet: what this instance id holds
    // is left from a previous life of the process (a stable id), free to resume at once.
    const first = this.#loop.then(async () => {
      if (this.#runs.size === 0) await this.store.release(this.instanceId);
      return this.resumeNow();
    });
    this.#loop = first.then(
      () => undefined,
      () => undefined,
    );
    try {
      await first;
    } finally {
      // Even when the first round failed (store down): the next rounds claim what it could not.
      if (this.#resuming) this.#scheduleClaims();
    }
  }

  #scheduleClaims(): void {
    const tick = (): void => {
      this.#claimTimer = undefined;
      if (!this.#resuming) return;
      this.#loop = this.#loop
        .then(() => this.resumeNow())
        .then(
          () => undefined,
          (error: unknown) => this.#logger.warn('Saga orchestrator could not claim sagas', { error }),
        )
        .finally(() => {
          if (this.#resuming) this.#claimTimer = this.#timers.schedule(this.#resumeIntervalMs, tick);
        });
    };
    this.#claimTimer = this.#timers.schedule(this.#resumeIntervalMs, tick);
  }

  /** Renews the holds of the sagas running here every third of the lease, while there are any. */
  #ensureHeartbeat(): void {
    if (this.#heartbeatTimer !== undefined || this.#stopped) return;
    const tick = (): void => {
      this.#heartbeatTimer = undefined;
      this.#loop = this.#loop
        .then(() => this.#heartbeat())
        .then(
          () => undefined,
          (error: unknown) => this.#logger.warn('Saga orchestrator could not renew its leases', { error }),
        )
        .finally(() => {
          if (this.#runs.size > 0) this.#ensureHeartbeat();
        });
    };
    this.#heartbeatTimer = this.#timers.schedule(Math.max(1, this.#lease.leaseMs / 3), tick);
  }

  /**
   * Stops: no more claims; every saga running here is detached (its current attempt's signal aborts
   * with a {@link SagaOwnershipLostError}, nothing more is written) and released so another
   * instance resumes it at once. Their handles' results reject.
   */
  async stop(): Promise<void> {
    const wasResuming = this.#resuming;
    this.#resuming = false;
    this.#stopped = true;
    this.#claimTimer?.();
    this.#claimTimer = undefined;
    this.#heartbeatTimer?.();
    this.#heartbeatTimer = undefined;
    await this.#loop;
    const runs = [...this.#runs.values()];
    for (const run of runs) this.#detach(run, new SagaOwnershipLostError(run.state.sagaId, this.instanceId));
    await Promise.all(runs.map((run) => run.chain));
    const ids = runs.map((run) => run.state.sagaId as string);
    this.#runs.clear();
    if (ids.length > 0) await this.store.release(this.instanceId, ids);
    if (wasResuming) await this.#timerService?.stop();
    this.#stopped = false;
  }

  /**
   * Claims the unfinished sagas nobody holds (in batches) and runs them on. Sagas of unknown
   * definitions are released and logged. Resolves to the ids resumed.
   */
  async resumeNow(): Promise<string[]> {
    const resumed: string[] = [];
    // Claimed sagas not run here (unknown definitions, or failed already in this round) stay held
    // until the round ends, so the next batches get past them; then they are released.
    const unknown: string[] = [];
    const leftover: string[] = [];
    const seen = new Set<string>();
    try {
      for (;;) {
        const claimed = await this.store.claim(this.#lease, this.#resumeBatchSize);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const mine: { definition: SagaDefinition<any>; state: SagaState }[] = [];
        for (const state of claimed) {
          const definition = this.#definitions.get(state.sagaName);
          const local = this.#runs.get(state.sagaId);
          if (local !== undefined) {
            // A start() here is creating a saga with this id (it will fail with a conflict): leave
            // the stored one to a later claim.
            if (!local.stored && !seen.has(state.sagaId)) leftover.push(state.sagaId);
            seen.add(state.sagaId);
            continue;
          }
          if (definition === undefined) unknown.push(state.sagaId);
          else if (seen.has(state.sagaId)) leftover.push(state.sagaId);
          else mine.push({ definition, state });
          seen.add(state.sagaId);
        }
        if (mine.length > 0) {
          // Cancellation or timeout requests recorded while nobody held them apply before anything runs.
          const renewals = await this.store.renew(
            this.#lease,
            mine.map(({ state }) => state.sagaId),
          );
          const held = new Map(renewals.map((renewal) => [renewal.sagaId, renewal]));
          for (const { definition, state } of mine) {
            const renewal = held.get(state.sagaId);
            if (renewal === undefined) continue;
            this.#resume(definition, state, renewal.cancelRequested);
            resumed.push(state.sagaId);
          }
        }
        if (claimed.length < this.#resumeBatchSize) return resumed;
      }
    } finally {
      if (unknown.length > 0) {
        this.#logger.warn('Unfinished sagas of unknown definitions were left for another instance', {
          sagaIds: unknown,
        });
      }
      if (unknown.length + leftover.length > 0) {
        await this.store.release(this.instanceId, [...unknown, ...leftover]);
      }
    }
  }

  /**
   * Starts a saga: saves it, moves it to `running` (event `saga.started`) and runs it in the
   * background. Resolves with the handle once the saga is running.
   *
   * @throws SagaConflictError when the id is taken, or an open saga of this type has the business
   *   key (unless `onConflict: 'join'`).
   */
  async start<Ctx>(
    saga: SagaDefinition<Ctx> | (abstract new (...args: never[]) => object),
    input: Ctx,
    options: StartSagaOptions = {},
  ): Promise<SagaHandle<Ctx>> {
    const definition = this.#definitionOf<Ctx>(saga);
    this.register(definition);
    const sagaId = options.sagaId ?? this.#newId();
    if (this.#runs.has(sagaId)) {
      throw new SagaConflictError(`A saga with id ${sagaId} exists already.`, { sagaId });
    }
    const now = this.#clock.now();
    const timeoutMs = definition.options.timeoutMs;
    const businessKey = options.businessKey;
    const run = this.#newRun(definition, {
      sagaId,
      sagaName: definition.name,
      correlationId: options.correlationId ?? sagaId,
      ...(businessKey === undefined ? {} : { businessKey }),
      status: 'pending',
      context: input,
      completedSteps: [],
      skippedSteps: [],
      compensatedSteps: [],
      attempts: {},
      compensationAttempts: {},
      startedAt: now,
      updatedAt: now,
      ...(timeoutMs === undefined ? {} : { deadlineAt: now + timeoutMs }),
      version: 0,
    });
    this.#runs.set(sagaId, run);
    try {
      // One write creates the saga already running (nothing happens in between).
      await this.#record(run, undefined, true);
      await this.#transition(run, 'start', 'saga.started');
    } catch (error) {
      if (this.#runs.get(sagaId) === run) this.#runs.delete(sagaId);
      if (error instanceof SagaConflictError && businessKey !== undefined && options.onConflict === 'join') {
        const open = await this.store.findOpen(definition.name, businessKey);
        if (open !== undefined) return this.get<Ctx>(open.sagaId);
      }
      throw error;
    }
    if (this.#timerService !== undefined && run.state.deadlineAt !== undefined) {
      try {
        await this.#timerService.schedule({
          id: deadlineTimerId(sagaId),
          kind: DEADLINE_TIMER,
          dueAt: run.state.deadlineAt,
          payload: { sagaId },
        });
      } catch (error) {
        // The saga exists now: run it. Its deadline still holds (in-process, and on resume).
        this.#logger.warn('Could not schedule a saga deadline timer', { sagaId, error });
      }
    }
    this.#launch(run, () => this.#execute(run));
    return this.#handle(run);
  }

  /** The definition given, or the registered definition of a `@Saga` class. */
  #definitionOf<Ctx>(
    saga: SagaDefinition<Ctx> | (abstract new (...args: never[]) => object),
  ): SagaDefinition<Ctx> {
    if (typeof saga !== 'function') return saga;
    const name = sagaNameOf(saga);
    const definition = name === undefined ? undefined : this.#definitions.get(name);
    if (definition === undefined) {
      throw new ConfigurationError(
        name === undefined
          ? `${saga.name} is not a saga: decorate it with @Saga('name').`
          : `Saga class ${saga.name} is not registered: list it in SagaModule.forRoot({ sagas }).`,
        { class: saga.name },
      );
    }
    return definition as SagaDefinition<Ctx>;
  }

  /**
   * The handle of a saga: the live one if it runs here, else one read from the store (its result
   * polls the store until the saga settles).
   *
   * @throws SagaNotFoundError
   */
  async get<Ctx = unknown>(sagaId: string): Promise<SagaHandle<Ctx>> {
    const run = this.#runs.get(sagaId) as SagaRun<Ctx> | undefined;
    if (run !== undefined) return this.#handle(run);
    const state = (await this.store.load(sagaId)) as SagaState<Ctx> | undefined;
    if (state === undefined) throw new SagaNotFoundError(sagaId);
    return this.#remoteHandle(state);
  }

  /**
   * Requests the cancellation of a pending or running saga: the current attempt's signal aborts
   * with a {@link SagaCancelledError}, the orchestrator stops waiting for it, and the steps to undo
   * are compensated; the saga ends `cancelled` (or `compensation_failed`). A saga run by another
   * instance is cancelled by that instance on its next renewal. Resolves to false when the saga is
   * past its forward path or already cancelled.
   *
   * @throws SagaNotFoundError
   */
  async cancel(sagaId: string, reason?: string): Promise<boolean> {
    const run = this.#runs.get(sagaId);
    if (run !== undefined) return this.#cancelLocal(run, reason);
    const state = await this.store.load(sagaId);
    if (state === undefined) throw new SagaNotFoundError(sagaId);
    if (state.cancelled || (state.status !== 'pending' && state.status !== 'running')) return false;
    return this.store.requestCancel(sagaId, reason);
  }

  /**
   * Retries the compensation of a saga in `compensation_failed`, from the step that failed, with
   * the same policies, on this instance. Resolves with the state once it settles again.
   *
   * @throws SagaNotFoundError; SagaStateError when the saga is not `compensation_failed` (or
   *   another instance is working on it).
   */
  async retryCompensation<Ctx = unknown>(sagaId: string): Promise<SagaState<Ctx>> {
    const run = await this.#acquireFailed<Ctx>(sagaId, 'retry the compensation of');
    delete run.state.compensationError;
    try {
      await this.#transition(run, 'retry_compensation');
    } catch (error) {
      await this.#abandon(run);
      throw error;
    }
    this.#launch(run, () => this.#compensateAndFinish(run));
    return run.settled.promise;
  }

  /**
   * Marks a saga in `compensation_failed` as resolved by an operator (status `resolved`, event
   * `saga.resolved`); nothing more runs.
   *
   * @throws SagaNotFoundError; SagaStateError when the saga is not `compensation_failed`.
   */
  async markResolved<Ctx = unknown>(sagaId: string, note?: string): Promise<SagaState<Ctx>> {
    const run = await this.#acquireFailed<Ctx>(sagaId, 'resolve');
    try {
      if (note !== undefined) run.state.resolution = note;
      await this.#transition(run, 'resolve', 'saga.resolved');
    } catch (error) {
      await this.#abandon(run);
      throw error;
    }
    this.#settle(run);
    return this.#snapshot(run);
  }

  /** Forgets a run that could not go on, and gives up its hold so any instance may act on it at once. */
  async #abandon<Ctx>(run: SagaRun<Ctx>): Promise<void> {
    const sagaId = run.state.sagaId;
    if (this.#runs.get(sagaId) === run) this.#runs.delete(sagaId);
    if (run.detached !== undefined) return;
    try {
      await this.store.release(this.instanceId, [sagaId]);
    } catch (error) {
      this.#logger.warn('Could not release a saga', { sagaId, error });
    }
  }

  /** The sagas in one of `statuses` (default: the unfinished ones), from the store. */
  list(statuses?: readonly SagaStatus[]): Promise<SagaState[]> {
    return this.store.list(statuses);
  }

  async #acquireFailed<Ctx>(sagaId: string, operation: string): Promise<SagaRun<Ctx>> {
    if (this.#runs.has(sagaId)) {
      const status = this.#runs.get(sagaId)!.state.status;
      throw new SagaStateError(sagaId, status, operation);
    }
    const stored = await this.store.load(sagaId);
    if (stored === undefined) throw new SagaNotFoundError(sagaId);
    if (stored.status !== 'compensation_failed') throw new SagaStateError(sagaId, stored.status, operation);
    const definition = this.#definitions.get(stored.sagaName) as SagaDefinition<Ctx> | undefined;
    if (definition === undefined) {
      throw new ConfigurationError(
        `Cannot ${operation} saga ${sagaId}: no definition ${stored.sagaName} is registered.`,
        {
          sagaId,
          saga: stored.sagaName,
        },
      );
    }
    const state = (await this.store.acquire(sagaId, this.#lease)) as SagaState<Ctx> | undefined;
    if (state === undefined || state.status !== 'compensation_failed') {
      if (state !== undefined) await this.store.release(this.instanceId, [sagaId]);
      throw new SagaStateError(sagaId, state?.status ?? stored.status, operation);
    }
    const run = this.#newRun(definition, state);
    run.forwardDone = true;
    this.#runs.set(sagaId, run);
    return run;
  }

  #cancelLocal<Ctx>(run: SagaRun<Ctx>, reason: string | undefined): boolean {
    if (run.forwardDone || run.state.cancelled || run.detached) return false;
    run.state.cancelled = true;
    run.controller.abort(new SagaCancelledError(run.state.sagaId, reason));
    return true;
  }

  async #onDeadline(sagaId: string): Promise<void> {
    const run = this.#runs.get(sagaId);
    if (run !== undefined) {
      this.#timeoutLocal(run);
      return;
    }
    const state = await this.store.load(sagaId);
    if (state !== undefined && (state.status === 'pending' || state.status === 'running')) {
      await this.store.requestCancel(sagaId, TIMEOUT_REQUEST);
    }
  }

  #timeoutLocal<Ctx>(run: SagaRun<Ctx>): void {
    const timeoutMs = run.definition.options.timeoutMs ?? 0;
    if (!run.forwardDone) run.controller.abort(new TimeoutError(`Saga ${run.definition.name}`, timeoutMs));
  }

  async #heartbeat(): Promise<void> {
    // A saga whose creation is still being written has no lease yet: renewing it would read as lost.
    const runs = [...this.#runs.values()].filter(
      (run) =>
        run.stored && run.detached === undefined && UNFINISHED_SAGA_STATUSES.includes(run.state.status),
    );
    if (runs.length === 0) return;
    const renewed = await this.store.renew(
      this.#lease,
      runs.map((run) => run.state.sagaId as string),
    );
    const held = new Set(renewed.map((r) => r.sagaId));
    for (const run of runs) {
      if (!held.has(run.state.sagaId) && this.#runs.get(run.state.sagaId) === run) {
        this.#logger.warn('Saga lease lost: another instance runs it now', { sagaId: run.state.sagaId });
        this.#detach(run, new SagaOwnershipLostError(run.state.sagaId, this.instanceId));
        this.#runs.delete(run.state.sagaId);
      }
    }
    await this.#applyRequests(renewed);
  }

  async #applyRequests(renewals: readonly { sagaId: string; cancelRequested?: string }[]): Promise<void> {
    for (const { sagaId, cancelRequested } of renewals) {
      const run = this.#runs.get(sagaId);
      if (run !== undefined) this.#applyRequest(run, cancelRequested);
    }
    return Promise.resolve();
  }

  /** Applies a cancellation (or deadline) request recorded in the store, if any. */
  #applyRequest<Ctx>(run: SagaRun<Ctx>, request: string | undefined): void {
    if (request === undefined) return;
    if (request === TIMEOUT_REQUEST) this.#timeoutLocal(run);
    else this.#cancelLocal(run, request === '' ? undefined : request);
  }

  /**
   * A step (or compensation) that failed because the application is stopping (its bus refused a
   * command: `AppNotRunningError`) did not fail on its own: the saga is handed over — detached here
   * and released — to be resumed (same idempotency key) by another instance or the next start,
   * instead of being failed and compensated.
   */
  #detachIfAppStopping<Ctx>(run: SagaRun<Ctx>, error: unknown): void {
    if (run.detached !== undefined || !isPotterError(error) || error.code !== 'POTTER_APP_NOT_RUNNING')
      return;
    const sagaId = run.state.sagaId as string;
    this.#logger.info('The application is stopping: saga handed over for resume', { sagaId });
    this.#detach(run, new SagaOwnershipLostError(sagaId, this.instanceId));
    if (this.#runs.get(sagaId) === run) this.#runs.delete(sagaId);
    // After its last save: the release must not overtake a save still in the chain.
    void run.chain
      .then(() => this.store.release(this.instanceId, [sagaId]))
      .catch((releaseError: unknown) =>
        this.#logger.warn('Could not release a saga on shutdown', { sagaId, error: releaseError }),
      );
  }

  #detach<Ctx>(run: SagaRun<Ctx>, reason: SagaOwnershipLostError): void {
    if (run.detached !== undefined) return;
    run.detached = reason;
    run.controller.abort(reason);
    run.detachController.abort(reason);
    run.settled.reject(reason);
  }

  #newRun<Ctx>(definition: SagaDefinition<Ctx>, state: SagaState<Ctx>): SagaRun<Ctx> {
    const steps = new Map<string, StepOptions<Ctx>>();
    for (const node of definition.nodes) {
      if (node.kind === 'step') steps.set(node.name, node.options);
      else for (const branch of node.steps) steps.set(branch.name, branch);
    }
    const copy = structuredClone(state) as RunState<Ctx>;
    return {
      definition,
      machine:
        state.status === 'pending'
          ? sagaLifecycle.create({ clock: this.#clock })
          : sagaLifecycle.restore(
              { machine: sagaLifecycle.id, state: state.status, context: undefined, history: [], version: 0 },
              { clock: this.#clock },
            ),
      controller: new AbortController(),
      detachController: new AbortController(),
      steps,
      state: {
        ...copy,
        completedSteps: [...copy.completedSteps],
        skippedSteps: [...copy.skippedSteps],
        compensatedSteps: [...copy.compensatedSteps],
        attempts: { ...copy.attempts },
        compensationAttempts: { ...copy.compensationAttempts },
      },
      forwardDone: state.status !== 'pending' && state.status !== 'running',
      inFlight: new Set(),
      compensationInFlight: undefined,
      detached: undefined,
      chain: Promise.resolve(),
      deferred: [],
      stored: state.version > 0,
      settled: deferred(),
    };
  }

  /**
   * Runs a claimed saga on from its saved state. `request` is a cancellation (or deadline) request
   * recorded while nobody held it: it applies before anything runs.
   */
  #resume<Ctx>(definition: SagaDefinition<Ctx>, state: SagaState<Ctx>, request: string | undefined): void {
    const run = this.#newRun(definition, state);
    const saved = run.state;
    if (saved.status === 'running') {
      // Attempts in flight when the previous owner stopped: neither finished nor waiting for a retry.
      for (const name of definition.stepNames) {
        if (
          (saved.attempts[name] ?? 0) > 0 &&
          !saved.completedSteps.includes(name) &&
          !saved.skippedSteps.includes(name) &&
          saved.nextAttemptAt?.[name] === undefined
        ) {
          run.inFlight.add(name);
        }
      }
    } else if (
      saved.status === 'compensating' &&
      saved.currentStep !== undefined &&
      (saved.compensationAttempts[saved.currentStep] ?? 0) > 0 &&
      !saved.compensatedSteps.includes(saved.currentStep) &&
      saved.nextAttemptAt?.[saved.currentStep] === undefined
    ) {
      run.compensationInFlight = saved.currentStep;
    }
    this.#runs.set(state.sagaId, run);
    if (saved.cancelled === true && !run.forwardDone) {
      // Cancelled, but the previous owner stopped before it started compensating.
      run.controller.abort(new SagaCancelledError(saved.sagaId));
    }
    this.#applyRequest(run, request);
    const deadlineAt = saved.deadlineAt;
    if (this.#timerService !== undefined && deadlineAt !== undefined && !run.forwardDone) {
      // The previous owner may have died before scheduling it (scheduling replaces by id).
      this.#timerService
        .schedule({
          id: deadlineTimerId(saved.sagaId),
          kind: DEADLINE_TIMER,
          dueAt: deadlineAt,
          payload: { sagaId: saved.sagaId },
        })
        .catch((error: unknown) =>
          this.#logger.warn('Could not schedule a saga deadline timer', { sagaId: saved.sagaId, error }),
        );
    }
    this.#launch(run, async () => {
      if (run.state.status === 'pending') await this.#transition(run, 'start', 'saga.started');
      if (run.state.status === 'running') await this.#execute(run);
      else await this.#compensateAndFinish(run);
    });
  }

  /** Runs `body` in the background; a failure (store down, lost lease) rejects the handle's result. */
  #launch<Ctx>(run: SagaRun<Ctx>, body: () => Promise<void>): void {
    this.#ensureHeartbeat();
    void body().catch((error: unknown) => {
      if (this.#runs.get(run.state.sagaId) === run) this.#runs.delete(run.state.sagaId);
      run.settled.reject(run.detached ?? error);
      if (run.detached === undefined) {
        this.#logger.error('Saga stopped on an error; it will be resumed from its last saved state', {
          sagaId: run.state.sagaId,
          error,
        });
        // Let this or another instance claim it again at once.
        void this.store.release(this.instanceId, [run.state.sagaId]).catch(() => undefined);
      }
    });
  }

  #handle<Ctx>(run: SagaRun<Ctx>): SagaHandle<Ctx> {
    const snapshot = (): SagaState<Ctx> => this.#snapshot(run);
    return {
      sagaId: run.state.sagaId,
      get status() {
        return run.state.status;
      },
      get state() {
        return snapshot();
      },
      result: run.settled.promise,
    };
  }

  #remoteHandle<Ctx>(initial: SagaState<Ctx>): SagaHandle<Ctx> {
    let last = initial;
    const result = new Promise<SagaState<Ctx>>((resolve, reject) => {
      const check = (): void => {
        if (SETTLED_SAGA_STATUSES.includes(last.status)) {
          resolve(structuredClone(last));
          return;
        }
        this.#timers.schedule(this.#resultPollMs, () => {
          const local = this.#runs.get(last.sagaId) as SagaRun<Ctx> | undefined;
          if (local !== undefined) {
            local.settled.promise.then(resolve, reject);
            return;
          }
          this.store.load(last.sagaId).then((state) => {
            if (state === undefined) reject(new SagaNotFoundError(last.sagaId));
            else {
              last = state as SagaState<Ctx>;
              check();
            }
          }, reject);
        });
      };
      check();
    });
    result.catch(() => undefined);
    return {
      sagaId: initial.sagaId,
      get status() {
        return last.status;
      },
      get state() {
        return structuredClone(last);
      },
      result,
    };
  }

  #snapshot<Ctx>(run: SagaRun<Ctx>): SagaState<Ctx> {
    return structuredClone(run.state);
  }

  // ---- forward path -------------------------------------------------------------------------

  async #execute<Ctx>(run: SagaRun<Ctx>): Promise<void> {
    const signal = run.controller.signal;
    const deadlineAt = run.state.deadlineAt;
    const disarm =
      deadlineAt === undefined
        ? () => undefined
        : this.#timers.schedule(Math.max(0, deadlineAt - this.#clock.now()), () => this.#timeoutLocal(run));
    try {
      if (deadlineAt !== undefined && deadlineAt <= this.#clock.now()) this.#timeoutLocal(run);
      for (const node of run.definition.nodes) {
        signal.throwIfAborted();
        if (node.kind === 'parallel') {
          if (node.steps.every((branch) => run.state.completedSteps.includes(branch.name))) continue;
          await this.#runParallel(run, node, signal);
        } else if (
          run.state.completedSteps.includes(node.name) ||
          run.state.skippedSteps.includes(node.name)
        ) {
          continue;
        } else if (node.when !== undefined && !node.when(run.state.context)) {
          run.state.skippedSteps.push(node.name);
          await this.#record(run, { type: 'saga.step.skipped', step: node.name }, true);
        } else {
          await this.#runStep(run, node.name, node.options, signal);
        }
      }
      signal.throwIfAborted();
    } catch (error) {
      run.forwardDone = true;
      disarm();
      if (run.detached !== undefined) throw run.detached;
      // Attempts cut short by the previous owner's stop and never run again: their effect is unknown.
      for (const name of run.inFlight) {
        if (run.steps.get(name)?.compensate !== undefined && !run.state.completedSteps.includes(name)) {
          run.state.completedSteps.push(name);
        }
      }
      run.inFlight.clear();
      await this.#fail(run, signal.aborted ? signal.reason : error);
      return;
    }
    run.forwardDone = true;
    disarm();
    delete run.state.currentStep;
    await this.#transition(run, 'complete', 'saga.completed');
    await this.#cancelDeadline(run);
    this.#settle(run);
  }

  async #cancelDeadline<Ctx>(run: SagaRun<Ctx>): Promise<void> {
    if (this.#timerService === undefined || run.state.deadlineAt === undefined) return;
    try {
      await this.#timerService.cancel(deadlineTimerId(run.state.sagaId));
    } catch (error) {
      // The deadline then fires for a settled saga, which ignores it.
      this.#logger.warn('Could not cancel a saga deadline timer', { sagaId: run.state.sagaId, error });
    }
  }

  async #fail<Ctx>(run: SagaRun<Ctx>, error: unknown): Promise<void> {
    const cancelled = error instanceof SagaCancelledError;
    if (cancelled) run.state.cancelled = true;
    run.state.error = errorInfo(error);
    delete run.state.currentStep;
    delete run.state.nextAttemptAt;
    await this.#cancelDeadline(run);
    const toUndo = this.#stepsToCompensate(run);
    if (toUndo.length === 0) {
      if (cancelled) await this.#transition(run, 'cancelled', 'saga.cancelled');
      else await this.#transition(run, 'fail', 'saga.failed', { error: run.state.error });
      this.#settle(run);
      return;
    }
    await this.#transition(run, 'compensate', cancelled ? undefined : 'saga.failed', {
      error: run.state.error,
    });
    await this.#compensateAndFinish(run);
  }

  async #runParallel<Ctx>(run: SagaRun<Ctx>, node: ParallelNode<Ctx>, parent: AbortSignal): Promise<void> {
    const group = new AbortController();
    const unlink = link(parent, group);
    run.state.currentStep = node.name;
    await this.#record(run, undefined, true);
    let firstError: { error: unknown } | undefined;
    try {
      await Promise.all(
        node.steps
          .filter((branch) => !run.state.completedSteps.includes(branch.name))
          .map((branch: NamedStep<Ctx>) =>
            this.#runStep(run, branch.name, branch, group.signal).catch((error: unknown) => {
              if (firstError === undefined && !group.signal.aborted) {
                firstError = { error };
                group.abort(new SagaAbortedError(run.state.sagaId, node.name, branch.name));
              }
            }),
          ),
      );
    } finally {
      unlink();
    }
    if (run.detached !== undefined) throw run.detached;
    if (parent.aborted) throw parent.reason;
    if (firstError !== undefined) throw firstError.error;
  }

  /**
   * Runs `execute` with its retry policy; on success the step is recorded as completed. A resumed
   * step continues where it stopped: an attempt cut short by a crash is run again (same number),
   * and a pending retry waits for what is left of its delay.
   */
  async #runStep<Ctx>(
    run: SagaRun<Ctx>,
    name: string,
    options: StepOptions<Ctx>,
    signal: AbortSignal,
  ): Promise<void> {
    const policy = resolveBackoff(options.retry ?? NO_RETRY);
    const retryable = options.retryable ?? (() => true);
    let attempt = run.state.attempts[name] ?? 0;
    const retryAt = run.state.nextAttemptAt?.[name];
    if (retryAt !== undefined) {
      await delay(this.#timers, Math.max(0, retryAt - this.#clock.now()), signal);
      attempt += 1;
    } else if (attempt === 0) {
      attempt = 1;
    }
    for (; ; attempt++) {
      signal.throwIfAborted();
      // From here on, this attempt (and its outcome) stands for the one a previous owner left in flight.
      run.inFlight.delete(name);
      run.state.attempts[name] = attempt;
      clearRetry(run.state, name);
      if (!isParallelBranch(run, name)) run.state.currentStep = name;
      await this.#record(run, { type: 'saga.step.started', step: name, attempt });
      try {
        await this.#attempt(
          run,
          name,
          options.execute,
          attempt,
          `${run.state.sagaId}:${name}`,
          options.timeoutMs,
          signal,
        );
      } catch (error) {
        this.#detachIfAppStopping(run, error);
        if (run.detached !== undefined) throw run.detached;
        const interrupted = signal.aborted || isInterruption(error);
        const willRetry = !signal.aborted && attempt < policy.maxAttempts && retryable(error);
        const uncertain = interrupted || (options.compensateOnFailure?.(error) ?? false);
        if (!willRetry && uncertain && options.compensate !== undefined) {
          // The attempt was cut short (or failed in a way that may have left an effect): its
          // effect is unknown, so it is compensated too.
          run.state.completedSteps.push(name);
        }
        const wait = willRetry ? backoffDelay(policy, attempt, this.#random) : 0;
        if (willRetry)
          run.state.nextAttemptAt = { ...run.state.nextAttemptAt, [name]: this.#clock.now() + wait };
        await this.#record(run, {
          type: 'saga.step.failed',
          step: name,
          attempt,
          willRetry,
          error: errorInfo(signal.aborted ? signal.reason : error),
        });
        if (!willRetry) throw signal.aborted ? signal.reason : error;
        try {
          await delay(this.#timers, wait, signal);
        } catch (reason) {
          if (interrupted && options.compensate !== undefined) run.state.completedSteps.push(name);
          throw reason;
        }
        continue;
      }
      run.state.completedSteps.push(name);
      // Saved with the next transition (the next step's start, or the end), before anything else runs.
      await this.#record(
        run,
        { type: 'saga.step.completed', step: name, attempt },
        !isParallelBranch(run, name),
      );
      return;
    }
  }

  /**
   * One attempt of `fn`, cut short when `parent` aborts or after `timeoutMs`: the step's signal
   * aborts and this rejects with the reason at once (the step is not awaited further).
   */
  async #attempt<Ctx>(
    run: SagaRun<Ctx>,
    step: string,
    fn: (args: StepArgs<Ctx>) => unknown,
    attempt: number,
    idempotencyKey: string,
    timeoutMs: number | undefined,
    parent: AbortSignal | undefined,
  ): Promise<void> {
    const controller = new AbortController();
    const unlink = parent === undefined ? () => undefined : link(parent, controller);
    const disarm =
      timeoutMs === undefined
        ? () => undefined
        : this.#timers.schedule(timeoutMs, () =>
            controller.abort(new TimeoutError(`Saga ${run.definition.name} step ${step}`, timeoutMs)),
          );
    const signal = controller.signal;
    // What the attempt left behind when it ends (waits it never awaited): released then.
    const leftovers = new Set<() => void>();
    try {
      signal.throwIfAborted();
      const args = this.#stepArgs(run, step, attempt, idempotencyKey, signal, leftovers);
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        Promise.resolve()
          .then(() => fn(args))
          .then(
            () => {
              signal.removeEventListener('abort', onAbort);
              resolve();
            },
            (error: unknown) => {
              signal.removeEventListener('abort', onAbort);
              reject(error);
            },
          );
      });
    } finally {
      disarm();
      unlink();
      for (const release of [...leftovers]) release();
    }
  }

  #stepArgs<Ctx>(
    run: SagaRun<Ctx>,
    step: string,
    attempt: number,
    idempotencyKey: string,
    signal: AbortSignal,
    leftovers: Set<() => void>,
  ): StepArgs<Ctx> {
    const { sagaId, correlationId } = run.state;
    const sagaName = run.definition.name;
    const commandBus = this.#commandBus;
    const eventBus = this.#eventBus;
    const timers = this.#timers;
    return {
      context: run.state.context,
      sagaId,
      sagaName,
      correlationId,
      step,
      attempt,
      idempotencyKey,
      signal,
      dispatch(command: object): Promise<never> {
        if (commandBus === undefined) {
          return Promise.reject(
            new ConfigurationError(`Saga ${sagaName} step ${step}: the orchestrator has no command bus.`, {
              saga: sagaName,
              step,
            }),
          );
        }
        return commandBus.execute(command, {
          metadata: {
            correlationId,
            causationId: sagaId,
            headers: { [SAGA_ID_HEADER]: sagaId, [IDEMPOTENCY_KEY_HEADER]: idempotencyKey },
          },
        }) as Promise<never>;
      },
      waitFor<E extends object>(
        eventClass: new (...args: never[]) => E,
        options: WaitForOptions<E> = {},
      ): Promise<E> {
        const waiting =
          eventBus === undefined
            ? Promise.reject<E>(
                new ConfigurationError(`Saga ${sagaName} step ${step}: the orchestrator has no event bus.`, {
                  saga: sagaName,
                  step,
                }),
              )
            : waitForEvent(
                eventBus,
                timers,
                eventClass,
                options,
                correlationId,
                signal,
                `${sagaName}.${step}`,
                {
                  onAttemptEnd: (release) => {
                    leftovers.add(release);
                    return () => leftovers.delete(release);
                  },
                  attemptOver: (typeName) =>
                    new SagaStateError(
                      sagaId,
                      run.state.status,
                      `wait for ${typeName} in step ${step} (its attempt ${attempt} is over) of`,
                    ),
                },
              );
        // The documented pattern starts waiting, then dispatches: when the dispatch throws, the wait
        // is never awaited. Its rejection must not be reported as unhandled.
        waiting.catch(() => undefined);
        return waiting;
      },
    };
  }

  // ---- compensation -------------------------------------------------------------------------

  /** The steps still to compensate, most recent first. */
  #stepsToCompensate<Ctx>(run: SagaRun<Ctx>): string[] {
    return run.state.completedSteps
      .filter(
        (name) => run.steps.get(name)?.compensate !== undefined && !run.state.compensatedSteps.includes(name),
      )
      .reverse();
  }

  async #compensateAndFinish<Ctx>(run: SagaRun<Ctx>): Promise<void> {
    const detachSignal = run.detachController.signal;
    for (const name of this.#stepsToCompensate(run)) {
      const options = run.steps.get(name)!;
      const policy = resolveBackoff(
        options.compensationRetry ?? run.definition.options.compensationRetry ?? DEFAULT_COMPENSATION_RETRY,
      );
      run.state.currentStep = name;
      // Resumed: a compensation in flight runs again with the same attempt number; one waiting for
      // a retry waits what is left of its delay.
      let rerun = run.compensationInFlight === name;
      run.compensationInFlight = undefined;
      // The retry budget counts from the start of this round, which a resumed saga keeps.
      const roundStart =
        run.state.compensationRoundStart?.[name] ??
        (run.state.compensationAttempts[name] ?? 0) - (rerun ? 1 : 0);
      run.state.compensationRoundStart = { ...run.state.compensationRoundStart, [name]: roundStart };
      const retryAt = run.state.nextAttemptAt?.[name];
      if (retryAt !== undefined)
        await delay(this.#timers, Math.max(0, retryAt - this.#clock.now()), detachSignal);
      for (;;) {
        const attempt = (run.state.compensationAttempts[name] ?? 0) + (rerun ? 0 : 1);
        const round = attempt - roundStart;
        rerun = false;
        run.state.compensationAttempts[name] = attempt;
        clearRetry(run.state, name);
        await this.#record(run, { type: 'saga.compensation.started', step: name, attempt });
        try {
          await this.#attempt(
            run,
            name,
            options.compensate!,
            attempt,
            `${run.state.sagaId}:${name}:compensate`,
            options.timeoutMs,
            detachSignal,
          );
        } catch (error) {
          this.#detachIfAppStopping(run, error);
          if (run.detached !== undefined) throw run.detached;
          const willRetry = round < policy.maxAttempts;
          const info = errorInfo(error);
          const wait = willRetry ? backoffDelay(policy, round, this.#random) : 0;
          if (willRetry)
            run.state.nextAttemptAt = { ...run.state.nextAttemptAt, [name]: this.#clock.now() + wait };
          await this.#record(run, {
            type: 'saga.compensation.failed',
            step: name,
            attempt,
            willRetry,
            error: info,
          });
          if (!willRetry) {
            endRound(run.state, name);
            run.state.compensationError = info;
            await this.#transition(run, 'compensation_failed', 'saga.compensation_failed', {
              step: name,
              error: info,
            });
            this.#settle(run);
            return;
          }
          await delay(this.#timers, wait, detachSignal);
          continue;
        }
        if (run.detached !== undefined) throw run.detached;
        run.state.compensatedSteps.push(name);
        endRound(run.state, name);
        await this.#record(run, { type: 'saga.compensation.completed', step: name, attempt }, true);
        break;
      }
    }
    delete run.state.currentStep;
    if (run.state.cancelled) await this.#transition(run, 'cancelled', 'saga.cancelled');
    else await this.#transition(run, 'compensated', 'saga.compensated', { error: run.state.error });
    this.#settle(run);
  }

  // ---- state, persistence, events -----------------------------------------------------------

  #settle<Ctx>(run: SagaRun<Ctx>): void {
    if (this.#runs.get(run.state.sagaId) === run) this.#runs.delete(run.state.sagaId);
    if (this.#runs.size === 0) {
      this.#heartbeatTimer?.();
      this.#heartbeatTimer = undefined;
    }
    run.settled.resolve(this.#snapshot(run));
  }

  async #transition<Ctx>(
    run: SagaRun<Ctx>,
    event: SagaLifecycleEvent,
    type?: SagaEventType,
    extra: { step?: string; error?: SagaErrorInfo } = {},
  ): Promise<void> {
    if (run.detached !== undefined) throw run.detached;
    await run.machine.send(event);
    run.state.status = run.machine.state;
    await this.#record(run, type === undefined ? undefined : { type, ...extra });
  }

  /**
   * Saves the state as it is now (creating it on the first save), then publishes the events of the
   * deferred transitions and `event` (if any), in order. Saves and publications of one saga are
   * chained, so they happen in call order even for concurrent parallel branches. A refused save
   * (lost lease) detaches the run.
   *
   * With `defer`, nothing is written yet: the transition is saved by the next record, which every
   * path reaches before anything with an effect runs (the next attempt, a delay, the end). A
   * crash in between loses only the deferred transition, which the resumed saga redoes (a completed
   * step runs again with its idempotency key).
   */
  #record<Ctx>(
    run: SagaRun<Ctx>,
    event?: Omit<SagaEvent, 'sagaId' | 'sagaName' | 'correlationId' | 'status' | 'at'>,
    defer = false,
  ): Promise<void> {
    if (run.detached !== undefined) return Promise.reject(run.detached);
    const now = this.#clock.now();
    run.state.updatedAt = now;
    if (event !== undefined) {
      run.deferred.push({
        ...event,
        ...(event.type === 'saga.started'
          ? {
              startedAt: run.state.startedAt,
              ...(run.state.businessKey !== undefined ? { businessKey: run.state.businessKey } : {}),
            }
          : {}),
        sagaId: run.state.sagaId,
        sagaName: run.state.sagaName,
        correlationId: run.state.correlationId,
        status: run.state.status,
        at: now,
      });
    }
    if (defer) return Promise.resolve();
    run.state.version += 1;
    const snapshot = this.#snapshot(run);
    const events = run.deferred.splice(0);
    const next = run.chain.then(async () => {
      if (run.detached !== undefined) throw run.detached;
      try {
        if (snapshot.version === 1) {
          await this.store.create(snapshot, this.#lease, events);
          run.stored = true;
        } else {
          await this.store.save(snapshot, this.#lease, events);
        }
      } catch (error) {
        if (error instanceof SagaOwnershipLostError) {
          this.#logger.warn('Saga lease lost: another instance runs it now', { sagaId: snapshot.sagaId });
          this.#detach(run, error);
        }
        throw error;
      }
      if (this.#publish === undefined) return;
      for (const full of events) {
        try {
          await this.#publish(full);
        } catch (error) {
          this.#logger.warn('Saga event publisher failed', { event: full.type, sagaId: full.sagaId, error });
        }
      }
    });
    run.chain = next.catch(() => undefined);
    return next;
  }
}

/** Forgets the retry round of `step`'s compensation (it succeeded, or the round is exhausted). */
function endRound(state: { compensationRoundStart?: Record<string, number> }, step: string): void {
  if (state.compensationRoundStart === undefined) return;
  delete state.compensationRoundStart[step];
  if (Object.keys(state.compensationRoundStart).length === 0) delete state.compensationRoundStart;
}

/** Forgets the pending retry of `step` (the attempt it waited for is starting). */
function clearRetry(state: { nextAttemptAt?: Record<string, number> }, step: string): void {
  if (state.nextAttemptAt === undefined) return;
  delete state.nextAttemptAt[step];
  if (Object.keys(state.nextAttemptAt).length === 0) delete state.nextAttemptAt;
}

function deadlineTimerId(sagaId: string): string {
  return `potter.saga.deadline:${sagaId}`;
}

function isParallelBranch<Ctx>(run: SagaRun<Ctx>, name: string): boolean {
  return run.definition.nodes.some(
    (node) => node.kind === 'parallel' && node.steps.some((s) => s.name === name),
  );
}

/** Aborts `child` when `parent` aborts (with its reason); returns the unlink function. */
function link(parent: AbortSignal, child: AbortController): () => void {
  if (parent.aborted) {
    child.abort(parent.reason);
    return () => undefined;
  }
  const onAbort = (): void => child.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return () => parent.removeEventListener('abort', onAbort);
}

/** Resolves with the first matching event published on `eventBus` (see {@link StepArgs.waitFor}). */
function waitForEvent<E extends object>(
  eventBus: SagaEventSubscriber,
  timers: SagaTimers,
  eventClass: new (...args: never[]) => E,
  options: WaitForOptions<E>,
  correlationId: string,
  signal: AbortSignal,
  waiter: string,
  attempt: {
    /** Registers what to do if the step's attempt ends while this waits; returns the unregister function. */
    onAttemptEnd(release: () => void): () => void;
    /** The reason a wait left behind by its attempt rejects with. */
    attemptOver(typeName: string): Error;
  },
): Promise<E> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const record = metadataRegistry.getMessage(eventClass);
  if (record === undefined || record.kind !== 'event') {
    return Promise.reject(
      new ConfigurationError(`waitFor: ${eventClass.name} is not an @Event class.`, {
        class: eventClass.name,
      }),
    );
  }
  const match =
    options.match ?? ((_event: E, meta: { correlationId: string }) => meta.correlationId === correlationId);
  return new Promise<E>((resolve, reject) => {
    let done = false;
    const finish = (): void => {
      done = true;
      unsubscribe();
      disarm();
      unregister();
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      if (done) return;
      finish();
      reject(signal.reason);
    };
    const entry: HandlerEntry = {
      kind: 'event',
      messageClass: eventClass,
      messageType: record.typeName,
      schemaVersion: record.schemaVersion,
      handlerName: `saga ${waiter} waitFor(${record.typeName})`,
      idempotent: true,
      timeoutMs: undefined,
      retry: undefined,
      acceptsContext: true,
      invoke: (event: object, context: MessageContext) => {
        if (done) return;
        const meta = {
          correlationId: context.correlationId,
          ...(context.causationId === undefined ? {} : { causationId: context.causationId }),
        };
        let matches: boolean;
        try {
          matches = match(event as E, meta);
        } catch (error) {
          // The step's own function failed: the step sees it (not the event bus, which would retry it).
          finish();
          reject(error);
          return;
        }
        if (!matches) return;
        finish();
        resolve(event as E);
      },
    };
    const unsubscribe = eventBus.subscribe(eventClass, entry);
    // The attempt that waits ended without awaiting this (it threw first, or forgot it): stop waiting.
    const unregister = attempt.onAttemptEnd(() => {
      if (done) return;
      finish();
      reject(attempt.attemptOver(record.typeName));
    });
    const timeoutMs = options.timeoutMs;
    const disarm =
      timeoutMs === undefined
        ? () => undefined
        : timers.schedule(timeoutMs, () => {
            if (done) return;
            finish();
            reject(new TimeoutError(`${waiter} waiting for ${record.typeName}`, timeoutMs));
          });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
