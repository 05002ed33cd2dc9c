import type { BackoffOptions } from '../core/backoff';
import type { ResultOf } from '../core/messages';

/** The lifecycle status of a saga (the states of {@link sagaLifecycle}). */
export type SagaStatus =
  | 'pending'
  | 'running'
  | 'compensating'
  | 'completed'
  | 'failed'
  | 'compensated'
  | 'compensation_failed'
  | 'cancelled'
  | 'resolved';

/** What a step's `execute` and `compensate` receive. */
export interface StepArgs<Ctx> {
  /** The saga's data: mutable, shared by every step, saved after every transition. */
  readonly context: Ctx;
  /** The saga instance id. */
  readonly sagaId: string;
  /** The saga definition's name. */
  readonly sagaName: string;
  /** The correlation id carried by every event of this saga. */
  readonly correlationId: string;
  /** The step's name. */
  readonly step: string;
  /** 1 for the first attempt, 2 for the first retry, … (counted separately for compensation). */
  readonly attempt: number;
  /**
   * `${sagaId}:${step}` for `execute` and `${sagaId}:${step}:compensate` for `compensate`. The same
   * for every attempt of the step (retries, and a re-run after a crash once resume exists), so a
   * participant that records it can apply the step's effect once.
   */
  readonly idempotencyKey: string;
  /**
   * Aborted when the attempt times out (reason: a `TimeoutError`), when the saga times out, or when
   * the saga is cancelled (reason: a `SagaCancelledError`). The orchestrator stops waiting for the
   * attempt as soon as it aborts.
   */
  readonly signal: AbortSignal;
  /**
   * Dispatches a command on the CommandBus with the saga's correlation id, the saga id as causation
   * id, and headers `potter-saga-id` and `potter-idempotency-key` (this step's key; read it in the
   * handler with `idempotencyKeyOf(context)`), so the command handler can apply it once. Resolves to
   * the handler's result, typed from a `TypedCommand<R>` (or give `R` explicitly).
   *
   * @throws ConfigurationError when the orchestrator has no command bus.
   */
  dispatch<C extends object>(command: C): Promise<ResultOf<C>>;
  dispatch<R>(command: object): Promise<R>;
  /**
   * Waits for the next event of `eventClass` published on the EventBus that `match`es (default: an
   * event carrying the saga's correlation id). Subscribes at once, so call it before dispatching the
   * command whose outcome it waits for. Rejects with a `TimeoutError` after `timeoutMs`, and with
   * the signal's reason when the attempt is aborted.
   *
   * @throws ConfigurationError when the orchestrator has no event bus.
   */
  waitFor<E extends object>(eventClass: new (...args: never[]) => E, options?: WaitForOptions<E>): Promise<E>;
}

/** Options of {@link StepArgs.waitFor}. */
export interface WaitForOptions<E> {
  /** Which event is the awaited one. Default: the event's correlation id is the saga's. */
  readonly match?: (
    event: E,
    meta: { readonly correlationId: string; readonly causationId?: string },
  ) => boolean;
  /** Give up after this many ms (a `TimeoutError`, retryable by the step's policy). Default: no limit. */
  readonly timeoutMs?: number;
}

/** One step's behaviour and policies. */
export interface StepOptions<Ctx> {
  /** The forward action. Throwing (or rejecting) fails the attempt. */
  readonly execute: (args: StepArgs<Ctx>) => unknown;
  /** Undoes `execute`; run in reverse order when a later step fails or the saga is cancelled. */
  readonly compensate?: (args: StepArgs<Ctx>) => unknown;
  /** Retry policy of `execute`. Default: one attempt (no retry). */
  readonly retry?: BackoffOptions;
  /** Which errors of `execute` are retried. Default: every error. */
  readonly retryable?: (error: unknown) => boolean;
  /** Timeout of one `execute` attempt, in ms (a timed-out attempt is retryable). */
  readonly timeoutMs?: number;
  /** Retry policy of `compensate`. Default: the saga's `compensationRetry`. */
  readonly compensationRetry?: BackoffOptions;
  /**
   * Errors after which the step's effect is uncertain although the attempt was not cut short (a
   * timed-out or aborted attempt always is): when the step fails for good with such an error, it
   * is compensated like a completed step, so `compensate` must cope with an effect that never
   * happened. Default: none.
   */
  readonly compensateOnFailure?: (error: unknown) => boolean;
}

/** A step of a parallel group: a name and its options. */
export interface NamedStep<Ctx> extends StepOptions<Ctx> {
  readonly name: string;
}

/** A sequential (optionally conditional) step of a built definition. */
export interface StepNode<Ctx> {
  readonly kind: 'step';
  readonly name: string;
  readonly options: StepOptions<Ctx>;
  /** Present for a conditional step: evaluated over the context when the step's turn comes. */
  readonly when?: (context: Readonly<Ctx>) => boolean;
}

/** A parallel group of a built definition. */
export interface ParallelNode<Ctx> {
  readonly kind: 'parallel';
  readonly name: string;
  readonly steps: readonly NamedStep<Ctx>[];
}

/** One entry of a built saga: a step, or a parallel group. */
export type SagaNode<Ctx> = StepNode<Ctx> | ParallelNode<Ctx>;

/** Saga-wide options. */
export interface SagaOptions {
  /** The whole saga's timeout, in ms, from start to the end of the forward path. */
  readonly timeoutMs?: number;
  /** Default retry policy of compensations. Default: `{ maxAttempts: 3 }` (backoff defaults). */
  readonly compensationRetry?: BackoffOptions;
}

/** The serializable description of an error kept in the saga's state and events. */
export interface SagaErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

/** The saga's state as persisted after every transition. */
export interface SagaState<Ctx = unknown> {
  readonly sagaId: string;
  readonly sagaName: string;
  readonly correlationId: string;
  readonly businessKey?: string;
  readonly status: SagaStatus;
  /** The saga data (structured-cloneable). */
  readonly context: Ctx;
  /**
   * Steps whose effect must be undone on compensation, in the order they finished: the completed
   * steps, plus steps whose last attempt timed out or was aborted (their effect is uncertain).
   */
  readonly completedSteps: readonly string[];
  /** Conditional steps whose predicate was false. */
  readonly skippedSteps: readonly string[];
  /** Steps already compensated, in compensation order. */
  readonly compensatedSteps: readonly string[];
  /** The step (or parallel group) running now, or the step being compensated. */
  readonly currentStep?: string;
  /** Attempts of `execute`, by step. */
  readonly attempts: Readonly<Record<string, number>>;
  /** Attempts of `compensate`, by step (cumulated across operator retries). */
  readonly compensationAttempts: Readonly<Record<string, number>>;
  /**
   * For a compensation under way: its attempt count when its current round of retries began (an
   * operator's `retryCompensation` starts a new round), so a resumed saga spends only what is left
   * of the round's retry budget.
   */
  readonly compensationRoundStart?: Readonly<Record<string, number>>;
  /** Why the saga failed or was cancelled. */
  readonly error?: SagaErrorInfo;
  /** The compensation error that left the saga `compensation_failed`. */
  readonly compensationError?: SagaErrorInfo;
  /**
   * When the next attempt of a step (or, while compensating, of its compensation) waiting for a
   * retry is due (clock time), by step: a resumed saga waits only what is left.
   */
  readonly nextAttemptAt?: Readonly<Record<string, number>>;
  /** Set when the saga was cancelled (it ends `cancelled` once compensated). */
  readonly cancelled?: boolean;
  /** A note given by the operator who marked the saga resolved. */
  readonly resolution?: string;
  readonly startedAt: number;
  readonly updatedAt: number;
  /** When the saga times out (start + `timeoutMs`), if it has a timeout. */
  readonly deadlineAt?: number;
  /** Incremented by every save. */
  readonly version: number;
}

/** The types of the saga events. */
export type SagaEventType =
  | 'saga.started'
  | 'saga.step.started'
  | 'saga.step.completed'
  | 'saga.step.failed'
  | 'saga.step.skipped'
  | 'saga.compensation.started'
  | 'saga.compensation.completed'
  | 'saga.compensation.failed'
  | 'saga.completed'
  | 'saga.failed'
  | 'saga.compensated'
  | 'saga.cancelled'
  | 'saga.compensation_failed'
  | 'saga.resolved';

/** A saga event, given to the publisher. */
export interface SagaEvent {
  readonly type: SagaEventType;
  readonly sagaId: string;
  readonly sagaName: string;
  readonly correlationId: string;
  /** The saga status when the event was emitted. */
  readonly status: SagaStatus;
  /** The step, for step and compensation events. */
  readonly step?: string;
  /** The attempt, for step and compensation events. */
  readonly attempt?: number;
  /** For `*.failed`: whether another attempt follows. */
  readonly willRetry?: boolean;
  readonly error?: SagaErrorInfo;
  /** The saga's business key, on `saga.started` (when it has one). */
  readonly businessKey?: string;
  /** On `saga.started`: when the saga was created (`SagaState.startedAt`; `at` is when it began running). */
  readonly startedAt?: number;
  /** Clock time. */
  readonly at: number;
}

/** Receives saga events (later: the EventBus). Awaited; a throw is reported to `onPublishError`. */
export type SagaEventPublisher = (event: SagaEvent) => void | Promise<void>;
