/**
 * Types of the two-phase-commit (2PC) coordinator: participants, votes, decisions and the
 * coordinator log's records.
 */

/**
 * One resource taking part in a two-phase commit. Every method is keyed by the transaction id and
 * must be idempotent, because the coordinator re-sends after a timeout, a failure or its own restart:
 *
 * - `prepare` votes: resolving is a *yes* (the participant promises it can commit), throwing (or
 *   not answering within the coordinator's prepare timeout) is a *no*. Before resolving, the
 *   participant must persist its prepared state **durably** (locks, reservations, the pending
 *   change) so that it can still commit after its own crash and restart. A prepare that arrives
 *   after a rollback of the same transaction must vote no.
 * - `commit` makes the prepared change permanent; `rollback` discards it. Both may be called more
 *   than once, and for a transaction the participant does not know (it never prepared, or already
 *   finished): they must then succeed without doing anything. Throwing means "not confirmed": the
 *   coordinator retries until the call resolves.
 *
 * A participant left prepared without hearing the decision (in doubt) asks the coordinator with
 * `TwoPhaseCoordinator.outcome(txId)`.
 */
export interface TwoPhaseParticipant {
  /** Unique among the participants of one transaction; recorded in the coordinator log. */
  readonly name: string;
  /** Phase 1: prepare and vote (resolve = yes, throw = no). `signal` aborts at the prepare timeout. */
  prepare(txId: string, payload: unknown, signal: AbortSignal): Promise<void>;
  /** Phase 2 after a commit decision: idempotent, also for an unknown or finished `txId`. */
  commit(txId: string): Promise<void>;
  /** Phase 2 after an abort decision: idempotent, also for an unknown or finished `txId`. */
  rollback(txId: string): Promise<void>;
}

/** The coordinator's decision for a transaction. */
export type TwoPhaseDecision = 'commit' | 'abort';

/**
 * What the log knows about a transaction's outcome: its decision, or `undecided` (begun, no
 * decision recorded yet). A transaction the log has no record of is `abort` (presumed abort).
 */
export type TwoPhaseLogOutcome = TwoPhaseDecision | 'undecided';

/** One transaction in the coordinator log. */
export interface TwoPhaseRecord {
  txId: string;
  /** Participant names, in the order given to `begin`. */
  participants: string[];
  /** The decision, once recorded. */
  decision?: TwoPhaseDecision;
  /** Participants that confirmed the decision (`markDone`), in the order they did. */
  done: string[];
  /** True once `complete` was recorded: every participant confirmed. */
  completed: boolean;
  /** The coordinator holding the transaction (whose lease has not necessarily expired), if any. */
  owner?: string;
  /** When the transaction began, in ms since the epoch on the log's clock. */
  begunAt: number;
  /** How long ago it began, on the log's clock (the database clock for the SQL log). */
  ageMs: number;
}

/** A coordinator's hold on a transaction: recovery claims only transactions whose lease expired. */
export interface TwoPhaseLease {
  /** The coordinator's id. */
  owner: string;
  /** How long the hold lasts from now, in ms. */
  leaseMs: number;
}

/**
 * The coordinator's durable log (presumed abort). The decision record is the commit point: it is
 * written durably before any commit is sent, and a transaction without one is aborted. Methods
 * other than `begin`, `get`, `outcome`, `unfinished` and `claim` throw
 * `TwoPhaseTransactionNotFoundError` for an unknown transaction.
 */
export interface CoordinatorLog {
  /**
   * Records a new transaction and its participants, held by `lease.owner`. Throws
   * `TwoPhaseConflictError` when a transaction with this id exists.
   */
  begin(txId: string, participants: readonly string[], lease: TwoPhaseLease): Promise<void>;
  /**
   * Records the decision if none is recorded yet, and resolves to the recorded one: the first
   * decision wins (an abort decided by recovery or by an in-doubt participant's query beats a
   * late commit, and the other way round).
   */
  decide(txId: string, decision: TwoPhaseDecision): Promise<TwoPhaseDecision>;
  /** Records that `participant` confirmed the decision (idempotent). */
  markDone(txId: string, participant: string): Promise<void>;
  /** Records that every participant confirmed: the transaction is finished (idempotent). */
  complete(txId: string): Promise<void>;
  /** The recorded decision, `undecided`, or `abort` for a transaction the log does not know. */
  outcome(txId: string): Promise<TwoPhaseLogOutcome>;
  /** The record of a transaction, or `undefined`. */
  get(txId: string): Promise<TwoPhaseRecord | undefined>;
  /** Every transaction not completed, oldest first (for inspection; recovery uses `claim`). */
  unfinished(): Promise<TwoPhaseRecord[]>;
  /**
   * Gives `lease.owner` up to `limit` unfinished transactions whose lease expired (oldest first):
   * concurrent claimers never get the same transaction while its lease runs.
   */
  claim(lease: TwoPhaseLease, limit: number): Promise<TwoPhaseRecord[]>;
  /** Extends the lease of `lease.owner` on an unfinished transaction; false when another owner holds it. */
  renew(txId: string, lease: TwoPhaseLease): Promise<boolean>;
}
