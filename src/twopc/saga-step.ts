import type { BackoffOptions } from '../core/backoff';
import { AppNotRunningError, ConfigurationError } from '../core/errors';
import type { StepArgs, StepOptions } from '../saga/types';
import type { TwoPhaseCoordinator, TwoPhaseResult } from './coordinator';
import { TwoPhaseAbortedError, TwoPhaseCoordinatorStoppedError } from './errors';
import type { TwoPhaseParticipant } from './types';

/**
 * A participant that can also undo a transaction it committed: what the default compensation of a
 * 2PC saga step ({@link twoPhaseStep}, {@link compensateTwoPhase}) calls on every participant when a
 * later step of the saga fails.
 */
export interface CompensableTwoPhaseParticipant extends TwoPhaseParticipant {
  /**
   * Undoes the committed change of `txId` (gives the reserved stock back, refunds, …). Must be
   * idempotent — the saga retries a compensation that threw, also after a crash — and succeed
   * without effect for a `txId` it never committed or already undid. `signal` aborts when the
   * saga's compensation attempt is cut short.
   */
  compensate(txId: string, signal: AbortSignal): Promise<void>;
}

/** The participants of a 2PC saga step: objects, or names of participants registered on the coordinator. */
export type TwoPhaseStepParticipants = readonly (TwoPhaseParticipant | string)[];

/** What {@link runTwoPhase} runs. */
export interface RunTwoPhaseOptions {
  /** The participants (the same set on every attempt and resume of the step). */
  participants: TwoPhaseStepParticipants;
  /** Passed to every participant's `prepare`. */
  payload?: unknown;
  /** The transaction id. @default {@link twoPhaseTxId}(args): `${sagaId}:${step}` */
  txId?: string;
}

/** What {@link compensateTwoPhase} undoes. */
export interface CompensateTwoPhaseOptions {
  /** The participants of the step's transaction. */
  participants: TwoPhaseStepParticipants;
  /** The transaction id the step used. @default {@link twoPhaseTxId}(args) */
  txId?: string;
  /**
   * Undoes a committed transaction instead of calling every participant's `compensate`: for
   * participants that cannot undo alone, or an undo that is itself a new 2PC transaction.
   */
  undo?: (result: TwoPhaseResult) => unknown;
}

/**
 * The transaction id of a 2PC saga step: `${sagaId}:${step}`, the step's idempotency key — the
 * same for every attempt, every resume after a crash, and for the step's compensation.
 */
export function twoPhaseTxId(args: Pick<StepArgs<unknown>, 'sagaId' | 'step'>): string {
  return `${args.sagaId}:${args.step}`;
}

/**
 * Runs the 2PC transaction of a saga step — for a `@SagaStep` method; {@link twoPhaseStep} builds a
 * whole step around it. Every attempt and resume of the step runs or joins the **same** transaction
 * (`execute` with `join`), so a retry after a lost answer or a crash never runs a second one: it
 * awaits the first, or finishes it from the coordinator log.
 *
 * Resolves with the result when the transaction committed (every participant confirmed).
 *
 * @throws TwoPhaseAbortedError when it aborted (every participant rolled back; not worth a retry:
 *   a retry joins the same aborted transaction).
 * @throws AppNotRunningError when the coordinator was closed (the application is stopping): the
 *   saga is handed over and resumed later, and its resumed step joins the transaction.
 * @throws the coordinator log's error (retryable: the next attempt joins the transaction).
 */
export async function runTwoPhase(
  coordinator: TwoPhaseCoordinator,
  args: Pick<StepArgs<unknown>, 'sagaId' | 'step' | 'signal'>,
  options: RunTwoPhaseOptions,
): Promise<TwoPhaseResult> {
  const txId = options.txId ?? twoPhaseTxId(args);
  let result: TwoPhaseResult;
  try {
    result = await coordinator.execute({
      txId,
      participants: options.participants,
      payload: options.payload,
      join: true,
      signal: args.signal,
    });
  } catch (error) {
    throw stoppedAsNotRunning(error, txId);
  }
  if (result.outcome === 'aborted') throw new TwoPhaseAbortedError(txId, result.votes);
  return result;
}

/**
 * Compensates the 2PC transaction of a saga step — for a `@Compensate` method. First settles the
 * transaction (`coordinator.settle`: awaits it if it is still running — the step's attempt may
 * have been cut short by a timeout —, finishes it if its coordinator died, and records it aborted
 * if it never began, so that a late attempt cannot commit it any more). Then, if it committed,
 * undoes it: `undo(result)` when given, else `compensate(txId, signal)` on every participant (in
 * parallel; any failure fails the compensation attempt, and the saga's retry calls all of them
 * again — they are idempotent). An aborted transaction has nothing to undo.
 *
 * @throws ConfigurationError when the transaction committed, no `undo` is given and a participant
 *   has no `compensate` method.
 */
export async function compensateTwoPhase(
  coordinator: TwoPhaseCoordinator,
  args: Pick<StepArgs<unknown>, 'sagaId' | 'step' | 'signal'>,
  options: CompensateTwoPhaseOptions,
): Promise<TwoPhaseResult> {
  const txId = options.txId ?? twoPhaseTxId(args);
  let result: TwoPhaseResult;
  try {
    result = await coordinator.settle(txId, { participants: options.participants, signal: args.signal });
  } catch (error) {
    throw stoppedAsNotRunning(error, txId);
  }
  if (result.outcome === 'aborted') return result;
  if (options.undo !== undefined) {
    await options.undo(result);
    return result;
  }
  const participants = options.participants.map((p) =>
    typeof p === 'string' ? (coordinator.participant(p) ?? p) : p,
  );
  const lacking = participants
    .filter(
      (p) =>
        typeof p === 'string' ||
        typeof (p as Partial<CompensableTwoPhaseParticipant>).compensate !== 'function',
    )
    .map((p) => (typeof p === 'string' ? p : p.name));
  if (lacking.length > 0) {
    throw new ConfigurationError(
      `Cannot compensate two-phase transaction ${txId}: participants ${lacking.join(', ')} have no compensate method (give undo, or implement CompensableTwoPhaseParticipant).`,
      { txId, participants: lacking },
    );
  }
  const settled = await Promise.allSettled(
    (participants as CompensableTwoPhaseParticipant[]).map((p) => p.compensate(txId, args.signal)),
  );
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return result;
}

/** Default retry of a {@link twoPhaseStep}: coordinator and log failures are retried (aborts never are). */
export const DEFAULT_TWOPC_STEP_RETRY: Required<BackoffOptions> = {
  maxAttempts: 5,
  initialDelayMs: 200,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitter: 'full',
};

/** Options of {@link twoPhaseStep}. */
export interface TwoPhaseStepOptions<Ctx> {
  /** The coordinator running the transaction (its log is shared by every instance running the saga). */
  readonly coordinator: TwoPhaseCoordinator;
  /**
   * The participants, or a function of the saga context giving them. Must give the same set on
   * every attempt, resume and compensation of the step.
   */
  readonly participants: TwoPhaseStepParticipants | ((context: Readonly<Ctx>) => TwoPhaseStepParticipants);
  /** What every participant's `prepare` receives, from the saga context. */
  readonly payload?: (context: Readonly<Ctx>) => unknown;
  /** The transaction id. @default {@link twoPhaseTxId}(args): `${sagaId}:${step}` */
  readonly txId?: (args: StepArgs<Ctx>) => string;
  /**
   * Called once the transaction committed, before the step completes: e.g. copy `txId` or `votes`
   * into the saga context (which is saved with the step's completion). A throw fails the attempt
   * (a retry joins the committed transaction and calls this again).
   */
  readonly onCommitted?: (args: StepArgs<Ctx>, result: TwoPhaseResult) => unknown;
  /**
   * How a committed transaction is undone when a later step fails (after the transaction is
   * settled, see {@link compensateTwoPhase}): by default every participant's `compensate(txId)`
   * ({@link CompensableTwoPhaseParticipant}); a function replaces that; `false` gives the step no
   * compensation at all.
   */
  readonly compensate?: ((args: StepArgs<Ctx>, result: TwoPhaseResult) => unknown) | false;
  /** Retry policy of the step. @default {@link DEFAULT_TWOPC_STEP_RETRY} */
  readonly retry?: BackoffOptions;
  /**
   * Which errors are retried, besides the rule that a `TwoPhaseAbortedError` or a
   * `ConfigurationError` never is. @default every other error
   */
  readonly retryable?: (error: unknown) => boolean;
  /**
   * Timeout of one attempt, in ms. An attempt cut short stops waiting, not the transaction: the
   * next attempt joins it, and if the saga gives up, the compensation settles it first.
   */
  readonly timeoutMs?: number;
  /** Retry policy of the compensation. @default the saga's */
  readonly compensationRetry?: BackoffOptions;
}

/**
 * A saga step that runs a two-phase-commit transaction over a set of participants, for the
 * {@link defineSaga} builder:
 *
 * ```ts
 * defineSaga<OrderCtx>('order')
 *   .step('reserve', twoPhaseStep({
 *     coordinator,
 *     participants: (ctx) => [north, south],
 *     payload: (ctx) => ({ lines: ctx.lines }),
 *   }))
 *   .step('charge', { execute: …, compensate: … })
 *   .build();
 * ```
 *
 * - The step commits when the transaction commits. Every attempt and resume runs or joins the
 *   same transaction (id {@link twoPhaseTxId}), so retries are safe.
 * - An aborted transaction fails the step with `TwoPhaseAbortedError`, not retried: a participant's
 *   no is a business refusal, and every participant rolled back, so there is nothing to compensate
 *   — the saga compensates the earlier steps. Coordinator and log errors are retried.
 * - When a later step fails, the compensation settles the transaction and undoes it if it
 *   committed (see {@link compensateTwoPhase} and `compensate`).
 */
export function twoPhaseStep<Ctx>(options: TwoPhaseStepOptions<Ctx>): StepOptions<Ctx> {
  if (typeof options !== 'object' || options === null || options.coordinator === undefined) {
    throw new ConfigurationError('twoPhaseStep needs a coordinator.', {});
  }
  const { coordinator } = options;
  const participantsOf = (context: Readonly<Ctx>): TwoPhaseStepParticipants => {
    const given =
      typeof options.participants === 'function' ? options.participants(context) : options.participants;
    if (!Array.isArray(given) || given.length === 0) {
      throw new ConfigurationError('A two-phase saga step needs at least one participant.', {});
    }
    return given;
  };
  const txIdOf = (args: StepArgs<Ctx>): string => options.txId?.(args) ?? twoPhaseTxId(args);
  const userRetryable = options.retryable ?? (() => true);
  const undo = options.compensate;
  return {
    execute: async (args) => {
      const result = await runTwoPhase(coordinator, args, {
        participants: participantsOf(args.context),
        payload: options.payload?.(args.context),
        txId: txIdOf(args),
      });
      await options.onCommitted?.(args, result);
    },
    ...(undo === false
      ? {}
      : {
          compensate: async (args: StepArgs<Ctx>) => {
            await compensateTwoPhase(coordinator, args, {
              participants: participantsOf(args.context),
              txId: txIdOf(args),
              ...(undo === undefined ? {} : { undo: (result: TwoPhaseResult) => undo(args, result) }),
            });
          },
        }),
    retry: options.retry ?? DEFAULT_TWOPC_STEP_RETRY,
    retryable: (error) =>
      !(error instanceof TwoPhaseAbortedError) &&
      !(error instanceof ConfigurationError) &&
      userRetryable(error),
    // A failure other than an abort may come after the decision (a log or participant outage
    // outlasting the retries): the transaction may commit later, so the step is compensated — the
    // compensation settles it first and undoes nothing unless it committed.
    compensateOnFailure: (error) =>
      !(error instanceof TwoPhaseAbortedError) && !(error instanceof ConfigurationError),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.compensationRetry === undefined ? {} : { compensationRetry: options.compensationRetry }),
  };
}

/**
 * A closed coordinator means the application is stopping: the saga orchestrator hands a saga whose
 * step fails with `AppNotRunningError` over for a later resume instead of failing it.
 */
function stoppedAsNotRunning(error: unknown, txId: string): unknown {
  return error instanceof TwoPhaseCoordinatorStoppedError
    ? new AppNotRunningError('stopping', `two-phase transaction ${txId}`)
    : error;
}
