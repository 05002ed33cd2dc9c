import { PotterError } from '../../core/errors';

/** What a remote side reported about its failure. */
export interface TwoPhaseRemoteFailure {
  name: string;
  message: string;
  code?: string;
}

/**
 * A call to a remote two-phase participant (or to a remote coordinator's outcome service) did not
 * succeed: the remote side answered with a failure (`details.remote` holds its error), or the client
 * was closed before the answer came (`details.remote` is undefined). For `prepare` it is a *no*
 * vote; for `commit` and `rollback` the coordinator re-sends.
 */
export class TwoPhaseRemoteError extends PotterError {
  /** The remote side's error, when it answered with one. */
  readonly remote: TwoPhaseRemoteFailure | undefined;

  constructor(operation: string, txId: string, remote: TwoPhaseRemoteFailure | undefined, target: string) {
    super(
      'POTTER_TWOPC_REMOTE_FAILED',
      remote === undefined
        ? `The ${operation} of ${target} for ${txId} got no answer: the client closed.`
        : `The ${operation} of ${target} for ${txId} failed remotely: ${remote.message}`,
      { details: { operation, txId, target, remote } },
    );
    this.remote = remote;
  }
}

/**
 * A two-phase request that a participant or outcome service cannot read (wrong type, missing or
 * mistyped fields, another participant's name). It is answered with this error when it has a
 * reply address, and dead-lettered — it never stops the consumer.
 */
export class TwoPhaseBadRequestError extends PotterError {
  constructor(reason: string) {
    super('POTTER_TWOPC_BAD_REQUEST', `Malformed two-phase request: ${reason}.`, { details: { reason } });
  }
}
