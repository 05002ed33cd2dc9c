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
  TwoPhaseAbortedError,
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
export {
  twoPhaseStep,
  runTwoPhase,
  compensateTwoPhase,
  twoPhaseTxId,
  DEFAULT_TWOPC_STEP_RETRY,
  type CompensableTwoPhaseParticipant,
  type CompensateTwoPhaseOptions,
  type RunTwoPhaseOptions,
  type TwoPhaseStepOptions,
  type TwoPhaseStepParticipants,
} from './saga-step';
export * from './remote';
