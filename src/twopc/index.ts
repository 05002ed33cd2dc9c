export type {
  CoordinatorLog,
  TwoPhaseDecision,
  TwoPhaseLease,
  TwoPhaseLogOutcome,
  TwoPhaseParticipant,
  TwoPhaseRecord,
} from './types';
export {
  TwoPhaseConflictError,
  TwoPhaseCoordinatorStoppedError,
  TwoPhaseTransactionNotFoundError,
} from './errors';
export { MemoryCoordinatorLog, type MemoryCoordinatorLogOptions } from './memory-coordinator-log';
export {
  TwoPhaseCoordinator,
  DEFAULT_TWOPC_RETRY,
  type TwoPhaseCoordinatorOptions,
  type TwoPhaseQueryOutcome,
  type TwoPhaseRecoveryResult,
  type TwoPhaseRequest,
  type TwoPhaseResult,
  type TwoPhaseRetryOptions,
  type TwoPhaseSettleOptions,
  type TwoPhaseVote,
} from './coordinator';
export * from './remote';
