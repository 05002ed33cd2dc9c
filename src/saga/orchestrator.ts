import { backoffDelay, resolveBackoff, type BackoffOptions } from '../core/backoff';
import { systemClock, type Clock } from '../core/clock';
import { TimeoutError } from '../core/errors';
import { newId } from '../core/ids';
import { createConsoleLogger, type Logger } from '../core/logger';
import type { Machine } from '../fsm/machine';
import type { SimpleEvents } from '../fsm/types';
import type { SagaDefinition } from './define-saga';
import {
  SagaAbortedError,
  SagaCancelledError,
  SagaConflictError,
  SagaNotFoundError,
  SagaStateError,
  errorInfo,
  isInterruption,
} from './errors';
import { SETTLED_SAGA_STATUSES, sagaLifecycle, type SagaLifecycleEvent } from './lifecycle';
import { MemorySagaStore, type SagaStore } from './saga-store';
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
} from './types';

/** Options of {@link SagaOrchestrator}. */
export interface SagaOrchestratorOptions {
  /** Where the state goes after every transition. Default: a new {@link MemorySagaStore}. */
  readonly store?: SagaStore;
  /** Receives every saga event, in order, after the state it describes is saved. */
  readonly publish?: SagaEventPublisher;
  /** Time source of timestamps and deadlines. Default: the system clock. */
  readonly clock?: Clock;
  /** Timers of timeouts and retry delays. Default: `setTimeout`. */
  readonly timers?: SagaTimers;
  /** Random source of the backoff jitter, in [0, 1). Default: `Math.random`. */
  readonly random?: () => number;
  /** Generates saga ids. Default: UUID v7. */
  readonly newId?: () => string;
  /** Where a publisher failure is reported (it does not stop the saga). Default: console logger. */
  readonly logger?: Logger;
}

/** Options of {@link SagaOrchestrator.start}. */
export interface StartSagaOptions {
  /** The saga id. Default: a new UUID v7. */
  readonly sagaId?: string;
  /** At most one unsettled saga (or one in `compensation_failed`) per business key. */
  readonly businessKey?: string;
  /** Carried by every event. Default: the saga id. */
  readonly correlationId?: string;
}

/** A running saga. */
export interface SagaHandle<Ctx> {
  readonly sagaId: string;
  /** The current status. */
  readonly status: SagaStatus;
  /** A copy of the current state. */
  readonly state: SagaState<Ctx>;
  /**
   * Resolves with the state once the saga settles: `completed`, `failed`, `compensated`,
   * `cancelled` or `compensation_failed` (never rejects for a failed step; rejects only if the store
   * or the lifecycle fails, leaving the state unknown).
   */
  readonly result: Promise<SagaState<Ctx>>;
}

const DEFAULT_COMPENSATION_RETRY: BackoffOptions = { maxAttempts: 3 };
const NO_RETRY: BackoffOptions = { maxAttempts: 1 };

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
  return { promise, resolve, reject };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface SagaRun<Ctx> {
  readonly definition: SagaDefinition<Ctx>;
  readonly machine: Machine<SagaStatus, SimpleEvents<SagaLifecycleEvent>, undefined>;
  readonly controller: AbortController;
  readonly steps: Map<string, StepOptions<Ctx>>;
  state: Mutable<SagaState<Ctx>> & {
    completedSteps: string[];
    skippedSteps: string[];
    compensatedSteps: string[];
    attempts: Record<string, number>;
    compensationAttempts: Record<string, number>;
  };
  /** Set once the forward path is over (cancel is refused from then on). */
  forwardDone: boolean;
  cancelled: boolean;
  /** Saves and publications, chained so they happen in order. */
  chain: Promise<void>;
  settled: Deferred<SagaState<Ctx>>;
}

/**
 * Runs sagas in memory: steps in order, parallel groups, conditional steps, retries with backoff,
 * step and saga timeouts, cancellation, compensation in reverse order, and the operator's
 * `retryCompensation` / `markResolved` for a saga left `compensation_failed`. The state is saved
 * after every transition; resuming unfinished sagas from a durable store is not implemented yet.
 */
export class SagaOrchestrator {
  readonly store: SagaStore;
  readonly #publish: SagaEventPublisher | undefined;
  readonly #clock: Clock;
  readonly #timers: SagaTimers;
  readonly #random: () => number;
  readonly #newId: () => string;
  readonly #logger: Logger;
  readonly #lease = { owner: newId(), leaseMs: 30_000 };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #runs = new Map<string, SagaRun<any>>();

  constructor(options: SagaOrchestratorOptions = {}) {
    this.store = options.store ?? new MemorySagaStore();
    this.#publish = options.publish;
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? systemTimers;
    this.#random = options.random ?? Math.random;
    this.#newId = options.newId ?? newId;
    this.#logger = options.logger ?? createConsoleLogger();
  }

  /**
   * Starts a saga: saves it, moves it to `running` (event `saga.started`) and runs it in the
   * background. Resolves with the handle once the saga is running.
   *
   * @throws SagaConflictError when the id is taken, or an unsettled saga has the same business key.
   */
  async start<Ctx>(
    definition: SagaDefinition<Ctx>,
    input: Ctx,
    options: StartSagaOptions = {},
  ): Promise<SagaHandle<Ctx>> {
    const sagaId = options.sagaId ?? this.#newId();
    if (this.#runs.has(sagaId) || (await this.store.load(sagaId)) !== undefined) {
      throw new SagaConflictError(`A saga with id ${sagaId} exists already.`, { sagaId });
    }
    const businessKey = options.businessKey;
    if (businessKey !== undefined) {
      for (const other of this.#runs.values()) {
        const status = other.state.status;
        const open = status === 'compensation_failed' || !SETTLED_SAGA_STATUSES.includes(status);
        if (other.state.businessKey === businessKey && open) {
          throw new SagaConflictError(
            `Saga ${other.state.sagaId} is active for business key ${businessKey}.`,
            {
              sagaId: other.state.sagaId,
              businessKey,
            },
          );
        }
      }
    }
    const now = this.#clock.now();
    const timeoutMs = definition.options.timeoutMs;
    const steps = new Map<string, StepOptions<Ctx>>();
    for (const node of definition.nodes) {
      if (node.kind === 'step') steps.set(node.name, node.options);
      else for (const branch of node.steps) steps.set(branch.name, branch);
    }
    const run: SagaRun<Ctx> = {
      definition,
      machine: sagaLifecycle.create({ clock: this.#clock }),
      controller: new AbortController(),
      steps,
      state: {
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
      },
      forwardDone: false,
      cancelled: false,
      chain: Promise.resolve(),
      settled: deferred(),
    };
    this.#runs.set(sagaId, run);
    try {
      await this.#record(run);
      await this.#transition(run, 'start', 'saga.started');
    } catch (error) {
      this.#runs.delete(sagaId);
      throw error;
    }
    void this.#execute(run).catch((error: unknown) => run.settled.reject(error));
    return this.#handle(run, run.settled.promise);
  }

  /** The handle of a saga started by this orchestrator. @throws SagaNotFoundError */
  get<Ctx = unknown>(sagaId: string): SagaHandle<Ctx> {
    const run = this.#run<Ctx>(sagaId);
    return this.#handle(run, run.settled.promise);
  }

  /**
   * Requests the cancellation of a pending or running saga: the current attempt's signal aborts
   * with a {@link SagaCancelledError}, the orchestrator stops waiting for it, and the steps to undo
   * are compensated; the saga ends `cancelled` (or `compensation_failed`). Returns false when the
   * saga is past its forward path (completing, compensating or settled) or already cancelled.
   *
   * @throws SagaNotFoundError
   */
  cancel(sagaId: string, reason?: string): boolean {
    const run = this.#run(sagaId);
    if (run.forwardDone || run.cancelled) return false;
    run.cancelled = true;
    run.controller.abort(new SagaCancelledError(sagaId, reason));
    return true;
  }

  /**
   * Retries the compensation of a saga in `compensation_failed`, from the step that failed, with
   * the same policies. Resolves with the state once it settles again.
   *
   * @throws SagaNotFoundError; SagaStateError when the saga is not `compensation_failed`.
   */
  async retryCompensation<Ctx = unknown>(sagaId: string): Promise<SagaState<Ctx>> {
    const run = this.#run<Ctx>(sagaId);
    if (run.state.status !== 'compensation_failed') {
      throw new SagaStateError(sagaId, run.state.status, 'retry the compensation of');
    }
    await this.store.acquire(sagaId, this.#lease);
    run.settled = deferred();
    const settled = run.settled.promise;
    delete run.state.compensationError;
    await this.#transition(run, 'retry_compensation');
    void this.#compensateAndFinish(run).catch((error: unknown) => run.settled.reject(error));
    return settled;
  }

  /**
   * Marks a saga in `compensation_failed` as resolved by an operator (status `resolved`, event
   * `saga.resolved`); nothing more runs.
   *
   * @throws SagaNotFoundError; SagaStateError when the saga is not `compensation_failed`.
   */
  async markResolved<Ctx = unknown>(sagaId: string, note?: string): Promise<SagaState<Ctx>> {
    const run = this.#run<Ctx>(sagaId);
    if (run.state.status !== 'compensation_failed') {
      throw new SagaStateError(sagaId, run.state.status, 'resolve');
    }
    await this.store.acquire(sagaId, this.#lease);
    if (note !== undefined) run.state.resolution = note;
    await this.#transition(run, 'resolve', 'saga.resolved');
    return this.#snapshot(run);
  }

  #run<Ctx>(sagaId: string): SagaRun<Ctx> {
    const run = this.#runs.get(sagaId) as SagaRun<Ctx> | undefined;
    if (run === undefined) throw new SagaNotFoundError(sagaId);
    return run;
  }

  #handle<Ctx>(run: SagaRun<Ctx>, result: Promise<SagaState<Ctx>>): SagaHandle<Ctx> {
    const snapshot = (): SagaState<Ctx> => this.#snapshot(run);
    return {
      sagaId: run.state.sagaId,
      get status() {
        return run.state.status;
      },
      get state() {
        return snapshot();
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
    const timeoutMs = run.definition.options.timeoutMs;
    const disarm =
      timeoutMs === undefined
        ? () => undefined
        : this.#timers.schedule(timeoutMs, () => {
            if (!run.forwardDone)
              run.controller.abort(new TimeoutError(`Saga ${run.definition.name}`, timeoutMs));
          });
    try {
      for (const node of run.definition.nodes) {
        signal.throwIfAborted();
        if (node.kind === 'parallel') {
          await this.#runParallel(run, node, signal);
        } else if (node.when !== undefined && !node.when(run.state.context)) {
          run.state.skippedSteps.push(node.name);
          await this.#record(run, { type: 'saga.step.skipped', step: node.name });
        } else {
          await this.#runStep(run, node.name, node.options, signal);
        }
      }
      signal.throwIfAborted();
    } catch (error) {
      run.forwardDone = true;
      disarm();
      await this.#fail(run, signal.aborted ? signal.reason : error);
      return;
    }
    run.forwardDone = true;
    disarm();
    delete run.state.currentStep;
    await this.#transition(run, 'complete', 'saga.completed');
    this.#settle(run);
  }

  async #fail<Ctx>(run: SagaRun<Ctx>, error: unknown): Promise<void> {
    const cancelled = error instanceof SagaCancelledError;
    run.state.error = errorInfo(error);
    delete run.state.currentStep;
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
    await this.#record(run);
    let firstError: { error: unknown } | undefined;
    try {
      await Promise.all(
        node.steps.map((branch: NamedStep<Ctx>) =>
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
    if (parent.aborted) throw parent.reason;
    if (firstError !== undefined) throw firstError.error;
  }

  /** Runs `execute` with its retry policy; on success the step is recorded as completed. */
  async #runStep<Ctx>(
    run: SagaRun<Ctx>,
    name: string,
    options: StepOptions<Ctx>,
    signal: AbortSignal,
  ): Promise<void> {
    const policy = resolveBackoff(options.retry ?? NO_RETRY);
    const retryable = options.retryable ?? (() => true);
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      run.state.attempts[name] = attempt;
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
        const interrupted = signal.aborted || isInterruption(error);
        const willRetry = !signal.aborted && attempt < policy.maxAttempts && retryable(error);
        if (!willRetry && interrupted && options.compensate !== undefined) {
          // The attempt was cut short: its effect is unknown, so it is compensated too.
          run.state.completedSteps.push(name);
        }
        await this.#record(run, {
          type: 'saga.step.failed',
          step: name,
          attempt,
          willRetry,
          error: errorInfo(signal.aborted ? signal.reason : error),
        });
        if (!willRetry) throw signal.aborted ? signal.reason : error;
        try {
          await delay(this.#timers, backoffDelay(policy, attempt, this.#random), signal);
        } catch (reason) {
          if (interrupted && options.compensate !== undefined) run.state.completedSteps.push(name);
          throw reason;
        }
        continue;
      }
      run.state.completedSteps.push(name);
      await this.#record(run, { type: 'saga.step.completed', step: name, attempt });
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
    try {
      signal.throwIfAborted();
      const args: StepArgs<Ctx> = {
        context: run.state.context,
        sagaId: run.state.sagaId,
        sagaName: run.definition.name,
        correlationId: run.state.correlationId,
        step,
        attempt,
        idempotencyKey,
        signal,
      };
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
    }
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
    for (const name of this.#stepsToCompensate(run)) {
      const options = run.steps.get(name)!;
      const policy = resolveBackoff(
        options.compensationRetry ?? run.definition.options.compensationRetry ?? DEFAULT_COMPENSATION_RETRY,
      );
      run.state.currentStep = name;
      for (let round = 1; ; round++) {
        const attempt = (run.state.compensationAttempts[name] ?? 0) + 1;
        run.state.compensationAttempts[name] = attempt;
        await this.#record(run, { type: 'saga.compensation.started', step: name, attempt });
        try {
          await this.#attempt(
            run,
            name,
            options.compensate!,
            attempt,
            `${run.state.sagaId}:${name}:compensate`,
            options.timeoutMs,
            undefined,
          );
        } catch (error) {
          const willRetry = round < policy.maxAttempts;
          const info = errorInfo(error);
          await this.#record(run, {
            type: 'saga.compensation.failed',
            step: name,
            attempt,
            willRetry,
            error: info,
          });
          if (!willRetry) {
            run.state.compensationError = info;
            await this.#transition(run, 'compensation_failed', 'saga.compensation_failed', {
              step: name,
              error: info,
            });
            this.#settle(run);
            return;
          }
          await delay(this.#timers, backoffDelay(policy, round, this.#random), new AbortController().signal);
          continue;
        }
        run.state.compensatedSteps.push(name);
        await this.#record(run, { type: 'saga.compensation.completed', step: name, attempt });
        break;
      }
    }
    delete run.state.currentStep;
    if (run.cancelled) await this.#transition(run, 'cancelled', 'saga.cancelled');
    else await this.#transition(run, 'compensated', 'saga.compensated', { error: run.state.error });
    this.#settle(run);
  }

  // ---- state, persistence, events -----------------------------------------------------------

  #settle<Ctx>(run: SagaRun<Ctx>): void {
    run.settled.resolve(this.#snapshot(run));
  }

  async #transition<Ctx>(
    run: SagaRun<Ctx>,
    event: SagaLifecycleEvent,
    type?: SagaEventType,
    extra: { step?: string; error?: SagaErrorInfo } = {},
  ): Promise<void> {
    await run.machine.send(event);
    run.state.status = run.machine.state;
    await this.#record(run, type === undefined ? undefined : { type, ...extra });
  }

  /**
   * Saves the state as it is now, then publishes `event` (if any). Saves and publications of one
   * saga are chained, so they happen in call order even for concurrent parallel branches.
   */
  #record<Ctx>(
    run: SagaRun<Ctx>,
    event?: Omit<SagaEvent, 'sagaId' | 'sagaName' | 'correlationId' | 'status' | 'at'>,
  ): Promise<void> {
    const now = this.#clock.now();
    run.state.updatedAt = now;
    run.state.version += 1;
    const snapshot = this.#snapshot(run);
    const full: SagaEvent | undefined =
      event === undefined
        ? undefined
        : {
            ...event,
            sagaId: snapshot.sagaId,
            sagaName: snapshot.sagaName,
            correlationId: snapshot.correlationId,
            status: snapshot.status,
            at: now,
          };
    const next = run.chain.then(async () => {
      if (snapshot.version === 1) await this.store.create(snapshot, this.#lease);
      else await this.store.save(snapshot, this.#lease);
      if (full !== undefined && this.#publish !== undefined) {
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
