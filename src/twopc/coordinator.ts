import { backoffDelay, resolveBackoff, type BackoffOptions, type ResolvedBackoff } from '../core/backoff';
import { ConfigurationError, TimeoutError, isPotterError } from '../core/errors';
import { newId } from '../core/ids';
import { silentLogger, type Logger } from '../core/logger';
import { delay, systemTimers, type SagaTimers } from '../saga/timers';
import { TwoPhaseCoordinatorStoppedError } from './errors';
import type {
  CoordinatorLog,
  TwoPhaseDecision,
  TwoPhaseLease,
  TwoPhaseParticipant,
  TwoPhaseRecord,
} from './types';

/** Backoff of commit and rollback re-sends: they retry until confirmed, so there is no attempt limit. */
export type TwoPhaseRetryOptions = Omit<BackoffOptions, 'maxAttempts'>;

/** Defaults of {@link TwoPhaseRetryOptions}. */
export const DEFAULT_TWOPC_RETRY: Required<TwoPhaseRetryOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitter: 'full',
};

/** The longest timer `setTimeout` accepts. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Options of {@link TwoPhaseCoordinator}. */
export interface TwoPhaseCoordinatorOptions {
  /** The durable log (`SqlCoordinatorLog` in production, `MemoryCoordinatorLog` in tests). */
  log: CoordinatorLog;
  /** Participants that `execute` and `recover` can name (each name once). */
  participants?: readonly TwoPhaseParticipant[];
  /** How long the participants have to vote; a missing vote is a no. @default 10_000 */
  prepareTimeoutMs?: number;
  /** How long one commit or rollback call may take before it counts as failed (and is retried). @default prepareTimeoutMs */
  callTimeoutMs?: number;
  /** Backoff between commit/rollback re-sends (unbounded attempts, delays capped at `maxDelayMs`). */
  retry?: TwoPhaseRetryOptions;
  /**
   * How long this coordinator holds a transaction in the log before recovery may take it over.
   * Renewed on every re-send. Must exceed `prepareTimeoutMs`. @default max(30_000, 3 × prepareTimeoutMs)
   */
  leaseMs?: number;
  /** This coordinator's id in the log (lease owner). @default `twopc-<uuid>` */
  owner?: string;
  /** How many transactions `recover` claims at a time. @default 50 */
  recoveryBatchSize?: number;
  /** Timers of the prepare timeout, call timeouts and retry delays (`ManualTimers` in tests). */
  timers?: SagaTimers;
  /** @default silentLogger */
  logger?: Logger;
  /** Random source of the retry jitter. @default Math.random */
  random?: () => number;
}

/** What one participant answered to `prepare`. */
export interface TwoPhaseVote {
  participant: string;
  /** `yes` (prepared), `no` (it threw) or `timeout` (no answer within the prepare timeout). */
  vote: 'yes' | 'no' | 'timeout';
  /** Why it did not vote yes. */
  error?: { name: string; message: string; code?: string };
}

/** What {@link TwoPhaseCoordinator.execute} runs. */
export interface TwoPhaseRequest {
  /** The transaction id (unique in the log). @default a new UUID v7 */
  txId?: string;
  /** The participants, as objects or names of registered ones. @default every registered participant */
  participants?: readonly (TwoPhaseParticipant | string)[];
  /** Passed to every participant's `prepare`. */
  payload?: unknown;
}

/** The result of {@link TwoPhaseCoordinator.execute}: every participant confirmed the outcome. */
export interface TwoPhaseResult {
  txId: string;
  outcome: 'committed' | 'aborted';
  /** The votes, in the order of the participants. */
  votes: TwoPhaseVote[];
}

/** What {@link TwoPhaseCoordinator.recover} did. */
export interface TwoPhaseRecoveryResult {
  /** Transactions finished by this call, with their outcome. */
  recovered: { txId: string; outcome: 'committed' | 'aborted' }[];
  /**
   * Transactions left unfinished because some participants were not given: their decision is
   * recorded (undecided ones were aborted); a later `recover` with those participants finishes them.
   */
  skipped: { txId: string; decision: TwoPhaseDecision; missing: string[] }[];
}

/**
 * The outcome an in-doubt participant gets from {@link TwoPhaseCoordinator.outcome}: the decision,
 * or `pending` while the transaction is still in its prepare phase.
 */
export type TwoPhaseQueryOutcome = TwoPhaseDecision | 'pending';

/** The reason given to the running calls when the coordinator closes. */
class ClosedSignal extends Error {}

/**
 * A two-phase-commit coordinator with presumed abort and a durable log.
 *
 * `execute` records the transaction (`begin`), asks every participant to `prepare` in parallel
 * (a throw or no answer within `prepareTimeoutMs` is a no), records the decision (`decide`: the
 * commit point — commit only if all voted yes), then sends `commit` or `rollback` to every
 * participant, re-sending with backoff until each confirms (`markDone`), and finally records the
 * transaction complete. A transaction without a decision record is aborted (presumed abort).
 *
 * After a crash, `recover` (on any coordinator sharing the log) claims the unfinished transactions
 * whose lease expired and finishes them: undecided → abort (rollback to all), decided → re-send the
 * decision to the participants that did not confirm it. Because the log keeps the first decision
 * recorded, a recovering coordinator or an in-doubt participant's `outcome` query deciding abort
 * and the original coordinator deciding commit can never both win.
 */
export class TwoPhaseCoordinator {
  /** This coordinator's id in the log. */
  readonly owner: string;
  readonly #log: CoordinatorLog;
  readonly #participants = new Map<string, TwoPhaseParticipant>();
  readonly #prepareTimeoutMs: number;
  readonly #callTimeoutMs: number;
  readonly #retry: ResolvedBackoff;
  readonly #lease: TwoPhaseLease;
  readonly #batch: number;
  readonly #timers: SagaTimers;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #closed = new AbortController();

  constructor(options: TwoPhaseCoordinatorOptions) {
    this.#log = options.log;
    this.#prepareTimeoutMs = checkTimeout('prepareTimeoutMs', options.prepareTimeoutMs ?? 10_000);
    this.#callTimeoutMs = checkTimeout('callTimeoutMs', options.callTimeoutMs ?? this.#prepareTimeoutMs);
    const leaseMs = options.leaseMs ?? Math.max(30_000, 3 * this.#prepareTimeoutMs);
    if (!Number.isFinite(leaseMs) || leaseMs <= this.#prepareTimeoutMs) {
      throw new ConfigurationError('leaseMs must be a number of milliseconds above prepareTimeoutMs.', {
        leaseMs,
        prepareTimeoutMs: this.#prepareTimeoutMs,
      });
    }
    this.owner = options.owner ?? `twopc-${newId()}`;
    this.#lease = { owner: this.owner, leaseMs };
    this.#retry = resolveBackoff({ ...DEFAULT_TWOPC_RETRY, ...options.retry, maxAttempts: 1 });
    this.#batch = options.recoveryBatchSize ?? 50;
    if (!Number.isInteger(this.#batch) || this.#batch < 1) {
      throw new ConfigurationError('recoveryBatchSize must be an integer >= 1.', {
        recoveryBatchSize: this.#batch,
      });
    }
    this.#timers = options.timers ?? systemTimers;
    this.#logger = options.logger ?? silentLogger;
    this.#random = options.random ?? Math.random;
    for (const participant of options.participants ?? []) this.register(participant);
  }

  /** Adds a participant that `execute` and `recover` can name. */
  register(participant: TwoPhaseParticipant): this {
    checkName(participant.name);
    if (this.#participants.has(participant.name)) {
      throw new ConfigurationError(
        `A two-phase participant named "${participant.name}" is registered already.`,
        {
          participant: participant.name,
        },
      );
    }
    this.#participants.set(participant.name, participant);
    return this;
  }

  /**
   * Runs one transaction to its end: resolves once every participant confirmed the outcome
   * (`committed` or `aborted`). Rejects with `TwoPhaseConflictError` for a used `txId`, with
   * `TwoPhaseCoordinatorStoppedError` when the coordinator is closed meanwhile, and with the log's
   * error when a log write fails — in the last two cases the transaction is left to `recover`.
   */
  async execute(request: TwoPhaseRequest = {}): Promise<TwoPhaseResult> {
    const participants = this.#resolve(request.participants);
    const txId = request.txId ?? newId();
    if (this.#closed.signal.aborted) throw new TwoPhaseCoordinatorStoppedError(txId, this.owner);
    await this.#log.begin(
      txId,
      participants.map((p) => p.name),
      this.#lease,
    );
    try {
      const votes = await Promise.all(participants.map((p) => this.#prepare(p, txId, request.payload)));
      this.#throwIfClosed();
      const wanted: TwoPhaseDecision = votes.every((v) => v.vote === 'yes') ? 'commit' : 'abort';
      const decision = await this.#log.decide(txId, wanted);
      if (decision !== wanted) {
        this.#logger.warn('Two-phase transaction was aborted by another coordinator before it decided', {
          txId,
        });
      }
      await this.#finish(txId, decision, participants);
      return { txId, outcome: decision === 'commit' ? 'committed' : 'aborted', votes };
    } catch (error) {
      throw this.#stopped(error, txId);
    }
  }

  /**
   * Finishes the transactions that coordinators left unfinished (crashed or closed), once their
   * lease expired: undecided ones are aborted, decided ones get their decision re-sent to the
   * participants that did not confirm it. `participants` adds to the registered ones (by name).
   * Resolves when every claimed transaction is finished (re-sends retry until confirmed) or skipped.
   */
  async recover(participants: readonly TwoPhaseParticipant[] = []): Promise<TwoPhaseRecoveryResult> {
    const byName = new Map(this.#participants);
    for (const participant of participants) byName.set(participant.name, participant);
    const result: TwoPhaseRecoveryResult = { recovered: [], skipped: [] };
    for (;;) {
      if (this.#closed.signal.aborted) break;
      const records = await this.#log.claim(this.#lease, this.#batch);
      if (records.length === 0) break;
      const settled = await Promise.allSettled(
        records.map((record) => this.#recoverOne(record, byName, result)),
      );
      const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    }
    return result;
  }

  /**
   * The outcome of a transaction, for an in-doubt participant: `commit` or `abort` when decided, or
   * `abort` for a transaction the log does not know (presumed abort). An undecided transaction older
   * than the prepare timeout is decided `abort` now (its coordinator is late or gone, and a late
   * commit decision then loses); a younger one is `pending` — ask again later.
   */
  async outcome(txId: string): Promise<TwoPhaseQueryOutcome> {
    const record = await this.#log.get(txId);
    if (record === undefined) return 'abort';
    if (record.decision !== undefined) return record.decision;
    if (record.ageMs < this.#prepareTimeoutMs) return 'pending';
    return this.#log.decide(txId, 'abort');
  }

  /**
   * Stops: running `execute` and `recover` calls stop re-sending and reject with
   * `TwoPhaseCoordinatorStoppedError`, and new ones are refused. Their transactions stay in the log
   * for recovery.
   */
  close(): void {
    if (!this.#closed.signal.aborted) this.#closed.abort(new ClosedSignal('closed'));
  }

  async #recoverOne(
    record: TwoPhaseRecord,
    byName: ReadonlyMap<string, TwoPhaseParticipant>,
    result: TwoPhaseRecoveryResult,
  ): Promise<void> {
    const { txId } = record;
    try {
      const decision = record.decision ?? (await this.#log.decide(txId, 'abort'));
      const missing = record.participants.filter((name) => !byName.has(name));
      if (missing.length > 0) {
        this.#logger.warn('Cannot recover a two-phase transaction: participants missing', { txId, missing });
        result.skipped.push({ txId, decision, missing });
        return;
      }
      const pending = record.participants
        .filter((name) => !record.done.includes(name))
        .map((name) => byName.get(name)!);
      this.#logger.info('Recovering a two-phase transaction', {
        txId,
        decision,
        pending: pending.map((p) => p.name),
      });
      await this.#finish(txId, decision, pending);
      result.recovered.push({ txId, outcome: decision === 'commit' ? 'committed' : 'aborted' });
    } catch (error) {
      throw this.#stopped(error, txId);
    }
  }

  /** Phase 1 for one participant: its vote, within the prepare timeout. */
  async #prepare(participant: TwoPhaseParticipant, txId: string, payload: unknown): Promise<TwoPhaseVote> {
    try {
      await this.#withTimeout(
        (signal) => participant.prepare(txId, payload, signal),
        this.#prepareTimeoutMs,
        `prepare of ${participant.name} for ${txId}`,
      );
      return { participant: participant.name, vote: 'yes' };
    } catch (error) {
      if (this.#closed.signal.aborted) throw error;
      const timedOut = error instanceof TimeoutError;
      this.#logger.info('Two-phase participant did not vote yes', {
        txId,
        participant: participant.name,
        vote: timedOut ? 'timeout' : 'no',
      });
      return { participant: participant.name, vote: timedOut ? 'timeout' : 'no', error: errorInfo(error) };
    }
  }

  /**
   * Phase 2: sends the decision to every participant given, re-sending until each confirms, then
   * records the transaction complete. A log failure (or closing) stops the other re-sends.
   */
  async #finish(
    txId: string,
    decision: TwoPhaseDecision,
    participants: readonly TwoPhaseParticipant[],
  ): Promise<void> {
    const stop = new AbortController();
    const onClose = (): void => stop.abort(this.#closed.signal.reason);
    this.#closed.signal.addEventListener('abort', onClose, { once: true });
    try {
      const settled = await Promise.allSettled(
        participants.map((p) =>
          this.#deliver(p, txId, decision, stop.signal).catch((error: unknown) => {
            stop.abort(error);
            throw error;
          }),
        ),
      );
      const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failure !== undefined) throw stop.signal.reason ?? failure.reason;
      await this.#log.complete(txId);
    } finally {
      this.#closed.signal.removeEventListener('abort', onClose);
    }
  }

  /** Sends `commit` or `rollback` to one participant until it resolves, then records it done. */
  async #deliver(
    participant: TwoPhaseParticipant,
    txId: string,
    decision: TwoPhaseDecision,
    stop: AbortSignal,
  ): Promise<void> {
    const operation = `${decision === 'commit' ? 'commit' : 'rollback'} of ${participant.name} for ${txId}`;
    for (let attempt = 1; ; attempt++) {
      if (stop.aborted) throw stop.reason;
      try {
        await this.#withTimeout(
          () => (decision === 'commit' ? participant.commit(txId) : participant.rollback(txId)),
          this.#callTimeoutMs,
          operation,
          stop,
        );
        break;
      } catch (error) {
        if (stop.aborted) throw stop.reason;
        const delayMs = backoffDelay(this.#retry, attempt, this.#random);
        this.#logger.warn('Two-phase participant did not confirm; re-sending', {
          txId,
          participant: participant.name,
          decision,
          attempt,
          delayMs,
          error: errorInfo(error).message,
        });
        await delay(this.#timers, delayMs, stop);
        await this.#log.renew(txId, this.#lease);
      }
    }
    await this.#log.markDone(txId, participant.name);
  }

  /**
   * Runs `fn` with a signal aborted after `ms` (rejecting with a `TimeoutError`) or when `outer`
   * (the coordinator's close by default) aborts, whichever comes first.
   */
  #withTimeout(
    fn: (signal: AbortSignal) => Promise<void>,
    ms: number,
    operation: string,
    outer: AbortSignal = this.#closed.signal,
  ): Promise<void> {
    const controller = new AbortController();
    return new Promise<void>((resolve, reject) => {
      const fail = (reason: unknown): void => {
        cancel();
        outer.removeEventListener('abort', onOuter);
        controller.abort(reason);
        reject(reason);
      };
      const onOuter = (): void => fail(outer.reason);
      const cancel = this.#timers.schedule(ms, () => fail(new TimeoutError(operation, ms)));
      if (outer.aborted) return fail(outer.reason);
      outer.addEventListener('abort', onOuter, { once: true });
      let call: Promise<void>;
      try {
        call = fn(controller.signal);
      } catch (error) {
        return fail(error);
      }
      call.then(
        () => {
          if (controller.signal.aborted) return;
          cancel();
          outer.removeEventListener('abort', onOuter);
          resolve();
        },
        (error: unknown) => {
          if (!controller.signal.aborted) fail(error);
        },
      );
    });
  }

  #resolve(given: TwoPhaseRequest['participants']): TwoPhaseParticipant[] {
    const participants = (given ?? [...this.#participants.values()]).map((p) => {
      if (typeof p !== 'string') {
        checkName(p.name);
        return p;
      }
      const registered = this.#participants.get(p);
      if (registered === undefined) {
        throw new ConfigurationError(`No two-phase participant named "${p}" is registered.`, {
          participant: p,
          known: [...this.#participants.keys()],
        });
      }
      return registered;
    });
    if (participants.length === 0) {
      throw new ConfigurationError('A two-phase transaction needs at least one participant.', {});
    }
    const names = participants.map((p) => p.name);
    const duplicates = names.filter((name, i) => names.indexOf(name) !== i);
    if (duplicates.length > 0) {
      throw new ConfigurationError('The participants of a two-phase transaction need distinct names.', {
        duplicates,
      });
    }
    return participants;
  }

  #throwIfClosed(): void {
    if (this.#closed.signal.aborted) throw this.#closed.signal.reason;
  }

  /** Maps the coordinator's close signal to its typed error; other errors pass through. */
  #stopped(error: unknown, txId: string): unknown {
    return error instanceof ClosedSignal ? new TwoPhaseCoordinatorStoppedError(txId, this.owner) : error;
  }
}

function checkTimeout(option: string, ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_TIMEOUT_MS) {
    throw new ConfigurationError(`${option} must be a positive number of milliseconds (at most 2^31 - 1).`, {
      [option]: ms,
    });
  }
  return ms;
}

function checkName(name: unknown): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigurationError('A two-phase participant needs a non-empty name.', { name });
  }
}

function errorInfo(error: unknown): { name: string; message: string; code?: string } {
  if (error instanceof Error) {
    return isPotterError(error)
      ? { name: error.name, message: error.message, code: error.code }
      : { name: error.name, message: error.message };
  }
  return { name: 'Error', message: String(error) };
}
