import { setMaxListeners } from 'node:events';
import { backoffDelay, resolveBackoff, type BackoffOptions, type ResolvedBackoff } from '../core/backoff';
import { ConfigurationError, TimeoutError, isPotterError } from '../core/errors';
import { newId } from '../core/ids';
import { silentLogger, type Logger } from '../core/logger';
import { delay, systemTimers, type SagaTimers } from '../saga/timers';
import { TwoPhaseConflictError, TwoPhaseCoordinatorStoppedError } from './errors';
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
  /**
   * Run-or-join: when a transaction with this `txId` exists (in the log, or running on this
   * coordinator), drive or await it to its outcome instead of rejecting with
   * `TwoPhaseConflictError`, and never run a second one. Meant for callers that retry or resume with
   * a stable id, such as saga steps (see `twoPhaseStep`):
   *
   * - running on this coordinator → awaits that run;
   * - completed → resolves to its outcome at once;
   * - decided, held by a live coordinator (its lease runs) → waits (polling the log with the retry
   *   backoff) until it completes; decided, lease expired → takes it over and re-sends the decision
   *   to the participants that did not confirm it, until they do;
   * - undecided, held by a live coordinator → waits for its decision as above; undecided, lease
   *   expired → takes it over and aborts it (presumed abort: its coordinator is gone or late, and
   *   the log's first decision wins, so a late commit decision loses).
   *
   * A joined transaction's `payload` is ignored, and its participants are the ones the log records
   * (looked up among the given and the registered participants by name). @default false
   */
  join?: boolean;
  /**
   * Stops the caller's wait: the call rejects with the signal's reason. The transaction itself is
   * not cut short — the coordinator keeps driving it (or leaves it to recovery if closed).
   */
  signal?: AbortSignal;
}

/** Options of {@link TwoPhaseCoordinator.settle}. */
export interface TwoPhaseSettleOptions {
  /** Participants (objects or names of registered ones) the log's participant names are looked up in, besides the registered ones. */
  participants?: readonly (TwoPhaseParticipant | string)[];
  /** Stops the caller's wait (as {@link TwoPhaseRequest.signal}). */
  signal?: AbortSignal;
}

/** The result of {@link TwoPhaseCoordinator.execute}: every participant confirmed the outcome. */
export interface TwoPhaseResult {
  txId: string;
  outcome: 'committed' | 'aborted';
  /**
   * The votes, in the order of the participants. Empty when this call joined a transaction whose
   * prepare phase it did not see (`joined` and not running on this coordinator): the log keeps
   * decisions, not votes.
   */
  votes: TwoPhaseVote[];
  /** True when the call joined an existing transaction (`join`, `settle`) instead of running its prepare phase. */
  joined?: boolean;
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
  /** The transactions this coordinator drives now, by id: at most one local driver per transaction. */
  readonly #running = new Map<string, Promise<TwoPhaseResult>>();

  constructor(options: TwoPhaseCoordinatorOptions) {
    // Every call in flight (prepare, commit, rollback, waits) listens to the close signal and
    // removes its listener when done: many concurrent transactions are many listeners, not a leak.
    setMaxListeners(0, this.#closed.signal);
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

  /** The registered participant named `name`, if any. */
  participant(name: string): TwoPhaseParticipant | undefined {
    return this.#participants.get(name);
  }

  /**
   * Runs one transaction to its end: resolves once every participant confirmed the outcome
   * (`committed` or `aborted`). Rejects with `TwoPhaseConflictError` for a used `txId` (unless
   * `join`), with `TwoPhaseCoordinatorStoppedError` when the coordinator is closed meanwhile, and
   * with the log's error when a log write fails — in the last two cases the transaction is left to
   * `recover` (or to the next `execute` with `join`).
   */
  async execute(request: TwoPhaseRequest = {}): Promise<TwoPhaseResult> {
    const participants = this.#resolve(request.participants);
    const txId = request.txId ?? newId();
    if (this.#closed.signal.aborted) throw new TwoPhaseCoordinatorStoppedError(txId, this.owner);
    if (request.join === true) {
      return this.#join(txId, participants, { payload: request.payload }, request.signal);
    }
    if (this.#running.has(txId)) throw new TwoPhaseConflictError(txId);
    return this.#track(txId, () => this.#run(txId, participants, request.payload));
  }

  /**
   * Drives an existing transaction to its end without starting one, and resolves to its outcome
   * once every participant confirmed it (as {@link TwoPhaseRequest.join}: awaits a live
   * coordinator, takes over an expired lease, aborts an undecided transaction whose coordinator is
   * gone). A transaction the log does not know is presumed aborted — and recorded so (begun and
   * decided `abort`, a rollback sent to the given participants), so that a late `execute` of the
   * same id can no longer run it. Used by the compensation of a 2PC saga step, which must know
   * whether the step's transaction committed.
   */
  async settle(txId: string, options: TwoPhaseSettleOptions = {}): Promise<TwoPhaseResult> {
    const given = (options.participants ?? []).map((p) =>
      typeof p === 'string' ? this.#resolve([p])[0]! : p,
    );
    if (this.#closed.signal.aborted) throw new TwoPhaseCoordinatorStoppedError(txId, this.owner);
    return this.#join(txId, given, undefined, options.signal);
  }

  /** Phase 1, decision and phase 2 of a new transaction. */
  async #run(
    txId: string,
    participants: readonly TwoPhaseParticipant[],
    payload: unknown,
  ): Promise<TwoPhaseResult> {
    await this.#log.begin(
      txId,
      participants.map((p) => p.name),
      this.#lease,
    );
    try {
      const votes = await Promise.all(participants.map((p) => this.#prepare(p, txId, payload)));
      this.#throwIfClosed();
      const wanted: TwoPhaseDecision = votes.every((v) => v.vote === 'yes') ? 'commit' : 'abort';
      const decision = await this.#log.decide(txId, wanted);
      if (decision !== wanted) {
        this.#logger.warn('Two-phase transaction was aborted by another coordinator before it decided', {
          txId,
        });
      }
      await this.#finish(txId, decision, participants);
      return { txId, outcome: outcomeOf(decision), votes };
    } catch (error) {
      throw this.#stopped(error, txId);
    }
  }

  /**
   * Run-or-join (see {@link TwoPhaseRequest.join}); `start` undefined: settle (a transaction the
   * log does not know is recorded aborted instead of being run).
   */
  async #join(
    txId: string,
    given: readonly TwoPhaseParticipant[],
    start: { payload: unknown } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<TwoPhaseResult> {
    const byName = new Map(this.#participants);
    for (const participant of given) byName.set(participant.name, participant);
    const wait = new AbortController();
    const unlink = [this.#closed.signal, ...(signal === undefined ? [] : [signal])].map((s) => link(s, wait));
    try {
      return await this.#joinLoop(txId, given, byName, start, signal, wait.signal);
    } finally {
      for (const undo of unlink) undo();
    }
  }

  async #joinLoop(
    txId: string,
    given: readonly TwoPhaseParticipant[],
    byName: ReadonlyMap<string, TwoPhaseParticipant>,
    start: { payload: unknown } | undefined,
    signal: AbortSignal | undefined,
    wait: AbortSignal,
  ): Promise<TwoPhaseResult> {
    for (let round = 1; ; round++) {
      if (wait.aborted) throw this.#stopped(wait.reason, txId);
      const local = this.#running.get(txId);
      if (local !== undefined) {
        try {
          return { ...(await abortable(local, signal)), joined: true };
        } catch (error) {
          // Its begin lost against another coordinator's: look at the log again.
          if (error instanceof TwoPhaseConflictError) continue;
          throw error;
        }
      }
      const record = await this.#log.get(txId);
      if (this.#running.has(txId)) continue;
      if (record === undefined) {
        const run =
          start === undefined
            ? this.#track(txId, () => this.#recordAbort(txId, given))
            : this.#track(txId, () => this.#run(txId, given, start.payload));
        try {
          return await abortable(run, signal);
        } catch (error) {
          if (error instanceof TwoPhaseConflictError) continue;
          throw error;
        }
      }
      if (record.completed) {
        return { txId, outcome: outcomeOf(record.decision ?? 'abort'), votes: [], joined: true };
      }
      const missing = record.participants.filter((name) => !byName.has(name));
      if (missing.length > 0) {
        throw new ConfigurationError(
          `Cannot join two-phase transaction ${txId}: participants ${missing.join(', ')} are not given.`,
          { txId, missing },
        );
      }
      const taken = await this.#log.renew(txId, this.#lease);
      if (this.#running.has(txId)) continue;
      if (taken) {
        return abortable(
          this.#track(txId, () => this.#takeOver(record, byName)),
          signal,
        );
      }
      // A live coordinator holds it: wait for its decision, its completion or its lease's end.
      try {
        await delay(this.#timers, backoffDelay(this.#retry, round, this.#random), wait);
      } catch (reason) {
        throw this.#stopped(reason, txId);
      }
    }
  }

  /** A transaction this coordinator now holds the lease of: undecided → abort, then phase 2. */
  async #takeOver(
    record: TwoPhaseRecord,
    byName: ReadonlyMap<string, TwoPhaseParticipant>,
  ): Promise<TwoPhaseResult> {
    const { txId } = record;
    try {
      // The record may be stale: a decision recorded meanwhile is the one `decide` returns.
      const decision = record.decision ?? (await this.#log.decide(txId, 'abort'));
      this.#logger.info('Took over a two-phase transaction', { txId, decision, was: record.owner });
      const pending = record.participants
        .filter((name) => !record.done.includes(name))
        .map((name) => byName.get(name)!);
      await this.#finish(txId, decision, pending);
      return { txId, outcome: outcomeOf(decision), votes: [], joined: true };
    } catch (error) {
      throw this.#stopped(error, txId);
    }
  }

  /** Records a transaction nobody began as aborted, so that a late `execute` of its id cannot run it. */
  async #recordAbort(txId: string, participants: readonly TwoPhaseParticipant[]): Promise<TwoPhaseResult> {
    await this.#log.begin(
      txId,
      participants.map((p) => p.name),
      this.#lease,
    );
    try {
      const decision = await this.#log.decide(txId, 'abort');
      await this.#finish(txId, decision, participants);
      return { txId, outcome: outcomeOf(decision), votes: [], joined: true };
    } catch (error) {
      throw this.#stopped(error, txId);
    }
  }

  /** Runs `fn` as this coordinator's driver of `txId` (joiners await it) until it settles. */
  #track(txId: string, fn: () => Promise<TwoPhaseResult>): Promise<TwoPhaseResult> {
    const run = fn();
    this.#running.set(txId, run);
    const forget = (): void => {
      if (this.#running.get(txId) === run) this.#running.delete(txId);
    };
    run.then(forget, forget);
    return run;
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
    setMaxListeners(0, stop.signal); // one listener per participant call (removed when it ends)
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

/** Aborts `child` when `parent` aborts; returns the unlink. */
function link(parent: AbortSignal, child: AbortController): () => void {
  if (parent.aborted) {
    child.abort(parent.reason);
    return () => undefined;
  }
  const onAbort = (): void => child.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return () => parent.removeEventListener('abort', onAbort);
}

function outcomeOf(decision: TwoPhaseDecision): TwoPhaseResult['outcome'] {
  return decision === 'commit' ? 'committed' : 'aborted';
}

/** `promise`, or the signal's reason as soon as it aborts (the promise itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
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
