export { TwoPhaseBadRequestError, TwoPhaseRemoteError, type TwoPhaseRemoteFailure } from './errors';
export {
  TWOPC_MESSAGE_TYPES,
  TWOPC_OUTCOME_TOPIC,
  TWOPC_REPLY_TOPIC,
  twoPhaseParticipantTopic,
  type TwoPhaseOperation,
  type TwoPhaseReplyBody,
  type TwoPhaseRequestBody,
} from './protocol';
export {
  MessageBusParticipant,
  TwoPhaseMessageClient,
  serveTwoPhaseOutcomes,
  serveTwoPhaseParticipant,
  type MessageBusParticipantOptions,
  type ServeTwoPhaseOptions,
  type TwoPhaseMessageClientOptions,
  type TwoPhaseOutcomeSource,
  type TwoPhaseRequestOptions,
} from './message-bus';
export {
  CommandBusParticipant,
  CommitTwoPhaseParticipant,
  PrepareTwoPhaseParticipant,
  RollbackTwoPhaseParticipant,
  registerTwoPhaseParticipants,
} from './command-bus';
