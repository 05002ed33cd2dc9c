import { PotterError } from '../core/errors';
import type { TwoPhaseVote } from './coordinator';

/** `begin` was called with the id of a transaction the coordinator log already holds. */
export class TwoPhaseConflictError extends PotterError {
  constructor(txId: string) {
    super('POTTER_TWOPC_CONFLICT', `A two-phase transaction ${txId} exists already.`, { details: { txId } });
  }
}

/** The coordinator log has no transaction with this id. */
export class TwoPhaseTransactionNotFoundError extends PotterError {
  constructor(txId: string) {
    super('POTTER_TWOPC_NOT_FOUND', `No two-phase transaction ${txId} is in the coordinator log.`, {
      details: { txId },
    });
  }
}

/**
 * The coordinator was closed while it drove a transaction. The transaction stays unfinished in the
 * log, and `recover()` (on this or another coordinator) finishes it once the lease expired.
 */
export class TwoPhaseCoordinatorStoppedError extends PotterError {
  constructor(txId: string, owner: string) {
    super(
      'POTTER_TWOPC_STOPPED',
      `Coordinator ${owner} stopped while driving transaction ${txId}; recovery will finish it.`,
      { details: { txId, owner } },
    );
  }
}

/**
 * A two-phase transaction run by a saga step (`twoPhaseStep`, `runTwoPhase`) was aborted: a
 * participant voted no or did not vote in time, or the transaction was aborted because its
 * coordinator was gone before deciding. Every participant rolled back, so the step has no effect
 * to compensate. Not retried by `twoPhaseStep` (a retry joins the same, aborted, transaction).
 * `details.votes` lists the votes when the attempt saw the prepare phase, and is empty when it
 * joined a transaction decided before.
 */
export class TwoPhaseAbortedError extends PotterError {
  /** The votes (empty when not known: the transaction was decided before this attempt joined it). */
  readonly votes: readonly TwoPhaseVote[];

  constructor(txId: string, votes: readonly TwoPhaseVote[]) {
    const refusals = votes
      .filter((v) => v.vote !== 'yes')
      .map((v) =>
        v.vote === 'timeout'
          ? `${v.participant} did not vote in time`
          : `${v.participant} voted no${v.error === undefined ? '' : ` (${v.error.message})`}`,
      );
    const why = refusals.length > 0 ? refusals.join('; ') : 'decided before this attempt, votes not known';
    super('POTTER_TWOPC_ABORTED', `Two-phase transaction ${txId} was aborted: ${why}.`, {
      details: { txId, votes: votes.map((v) => ({ ...v })) },
    });
    this.votes = votes;
  }
}
