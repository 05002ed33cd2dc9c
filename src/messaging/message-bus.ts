import type { BackoffOptions } from '../core/backoff';
import type { MessageEnvelope } from '../core/envelope';

/**
 * A message on a broker: a Potter envelope (id, type, schema version, payload, metadata) plus the
 * broker-level facts of its delivery.
 */
export interface BrokerMessage<P extends object = Record<string, unknown>> {
  /** The envelope as published (`envelope.id` is the dedupe key of inboxes). */
  envelope: MessageEnvelope<P>;
  /** The topic it was published to. */
  topic: string;
  /** The ordering key (same key → same partition/stream → handled in order). */
  key: string | undefined;
  /**
   * Headers (strings): those stored with the message on the broker, plus Potter's (`potter-id`,
   * `potter-type`, `potter-schema-version`, `potter-kind`, `content-type`, `traceparent`) and the
   * envelope's own, derived from the decoded envelope (see `envelopeHeaders`).
   */
  headers: Record<string, string>;
  /** 1 for the first delivery to this group, then +1 per redelivery (when the broker tells). */
  attempt: number;
  /** Broker position, for logs (Kafka: `partition:offset`; Redis: the stream entry id). */
  brokerId: string;
}

/** Options of {@link MessageBus.publish}. */
export interface PublishOptions {
  /** Ordering key for every envelope of this call (Potter's event publishers pass the stream id). @default none */
  key?: string;
  /** Extra broker headers. */
  headers?: Record<string, string>;
}

/** Handles one message; resolving acknowledges it, throwing makes it retried, then dead-lettered. */
export type BrokerHandler = (message: BrokerMessage) => Promise<void> | void;

/** Options of {@link MessageBus.subscribe}. */
export interface SubscribeToTopicOptions {
  /**
   * Retries of a failing message before it goes to the dead-letter topic (`<topic>.dlq`) with the
   * error, the attempt count and the original headers. @default { maxAttempts: 5 }
   */
  retry?: BackoffOptions;
  /**
   * Messages handled at once, across different keys (messages with the same key are always handled
   * one after the other, in order). @default 1
   */
  concurrency?: number;
  /** Start a new group at the earliest retained message instead of new ones only. @default true */
  fromBeginning?: boolean;
}

/** A running subscription of a consumer group. */
export interface TopicSubscription {
  readonly topic: string;
  readonly group: string;
  /** Stops fetching, finishes (and acknowledges) the messages in flight, and leaves the group. */
  stop(): Promise<void>;
}

/** A message that failed every attempt, or could not be decoded, as stored in `<topic>.dlq`. */
export interface DeadLetter {
  /** The original topic. */
  topic: string;
  group: string;
  /** The original message: its envelope when it could be decoded, else the raw bytes as base64. */
  envelope: MessageEnvelope | undefined;
  raw: string | undefined;
  headers: Record<string, string>;
  key: string | undefined;
  error: { message: string; code: string };
  attempts: number;
  failedAt: string;
}

/**
 * The message bus port: how Potter services exchange envelopes through a broker. Adapters: memory
 * (one process), Redis Streams, Kafka. Every adapter passes `test/contracts/message-bus.contract.ts`.
 *
 * Delivery is at-least-once: a handler's success acknowledges (commits) the message; a failure is
 * retried with backoff, then the message goes to `<topic>.dlq` and the group moves on. Messages with
 * the same key are delivered to a group in publish order; each group gets every message (fan-out);
 * the consumers of one group share the messages (competing consumers). A message that cannot be
 * decoded goes to the dead-letter topic with the reason, and never blocks its partition.
 */
export interface MessageBus {
  /** Publishes envelopes to a topic; resolves once the broker has acknowledged every one. */
  publish(topic: string, envelopes: readonly MessageEnvelope[], options?: PublishOptions): Promise<void>;
  /** Joins consumer group `group` on `topic` and hands each message to `handler`. */
  subscribe(
    topic: string,
    group: string,
    handler: BrokerHandler,
    options?: SubscribeToTopicOptions,
  ): Promise<TopicSubscription>;
  /** Stops every subscription and releases connections. */
  close(): Promise<void>;
}
