export type {
  BrokerMessage,
  PublishOptions,
  BrokerHandler,
  SubscribeToTopicOptions,
  TopicSubscription,
  DeadLetter,
  MessageBus,
} from './message-bus';
export { POTTER_HEADERS, envelopeHeaders, jsonCodec, msgpackCodec, toMessageEnvelope } from './codecs';
export type { MessageCodec } from './codecs';
export {
  DEAD_LETTER_TYPE,
  createDeadLetter,
  deadLetterEnvelope,
  deadLetterError,
  deadLetterHeaders,
  deadLetterTopic,
  readDeadLetter,
} from './dead-letter';
export type { DeadLetterInit } from './dead-letter';
export { MemoryMessageBus } from './memory-message-bus';
export type { MemoryMessageBusOptions, PublishRawOptions } from './memory-message-bus';
export { MemoryInbox } from './inbox';
export type { Inbox, InboxOnceOptions, InboxOnceResult } from './inbox';
export { OutboxRelay, envelopeOfEvent } from './outbox-relay';
export type { OutboxRelayOptions } from './outbox-relay';
export { MessagingModule, MESSAGE_BUS } from './messaging.module';
export type { MessagingModuleOptions, MessageDeduplicator } from './messaging.module';
