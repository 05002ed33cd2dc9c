import type * as KafkaJS from 'kafkajs';
import { backoffDelay, resolveBackoff, sleep, type ResolvedBackoff } from '../../core/backoff';
import type { MessageEnvelope } from '../../core/envelope';
import { ConfigurationError } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import { envelopeHeaders, jsonCodec, type MessageCodec } from '../codecs';
import { createDeadLetter, deadLetterEnvelope, deadLetterHeaders, deadLetterTopic } from '../dead-letter';
import type {
  BrokerHandler,
  BrokerMessage,
  MessageBus,
  PublishOptions,
  SubscribeToTopicOptions,
  TopicSubscription,
} from '../message-bus';
import { loadKafkajs } from './kafka-driver';

/** Options of {@link KafkaMessageBus}. */
export interface KafkaMessageBusOptions {
  /** Bootstrap brokers (`host:port`). @default ['127.0.0.1:9092'] */
  brokers?: string[];
  /** The client id the brokers see. @default 'potter' */
  clientId?: string;
  /** More options of the `Kafka` client (ssl, sasl, timeouts…); `brokers`/`clientId` above win. */
  kafkaConfig?: Partial<KafkaJS.KafkaConfig>;
  /** How envelopes are encoded in message values. @default JSON */
  codec?: MessageCodec;
  /**
   * Partitions of the topics this bus creates (a topic and its `<topic>.dlq`, created through the
   * admin client on first publish or subscribe when missing). @default the broker's `num.partitions`
   */
  partitions?: number;
  /** Replication factor of the topics this bus creates. @default the broker's `default.replication.factor` */
  replicationFactor?: number;
  /** Create missing topics (else they must exist). @default true */
  createTopics?: boolean;
  /** Consumer session timeout, in ms: how long a silent (dead) consumer keeps its partitions. @default 30000 */
  sessionTimeoutMs?: number;
  /** Consumer heartbeat interval, in ms: how fast a consumer notices a rebalance. @default 500 */
  heartbeatIntervalMs?: number;
  /** Longest wait of one fetch for new messages, in ms (also bounds how late a rebalance is noticed). @default 500 */
  maxWaitTimeMs?: number;
  /** How long `subscribe` waits for the consumer to join its group, in ms. @default 60000 */
  joinTimeoutMs?: number;
  /**
   * Offsets of handled messages are committed together, at most this long after the first of them
   * was handled (and on `stop()`), in ms. A crash redelivers the messages handled since the last
   * commit; 0 commits after every message. @default 100
   */
  commitIntervalMs?: number;
  /** Where connection problems, kafkajs warnings and dead letters are reported. @default silent */
  logger?: Logger;
}

type ResolvedOptions = {
  codec: MessageCodec;
  partitions: number | undefined;
  replicationFactor: number | undefined;
  createTopics: boolean;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxWaitTimeMs: number;
  joinTimeoutMs: number;
  commitIntervalMs: number;
  logger: Logger;
};

/**
 * {@link MessageBus} on Apache Kafka through `kafkajs` (an optional peer dependency: `npm i kafkajs`).
 *
 * - Topics (and their `<topic>.dlq`) are created through the admin client when missing, with
 *   `partitions` partitions; the broker's auto-creation is never relied on.
 * - `publish` sends every envelope of a call in one request of an idempotent producer (`acks=-1`,
 *   one request in flight), keyed by `options.key`, so a key's messages keep their order.
 * - `subscribe` runs a consumer of group `group` and resolves once it has joined the group. Each
 *   partition is handled in order, `concurrency` partitions at once (so messages of one key, which
 *   share a partition, are handled one after the other). A message's offset is committed only
 *   after its handler succeeded, or after it was written to `<topic>.dlq` as a {@link DeadLetter}
 *   (a handler failing every attempt of `retry`, with backoff in the consumer; or a value the codec
 *   cannot decode, at once). `stop()` lets the messages in flight finish (a retry waiting for its
 *   backoff is abandoned, uncommitted, and redelivered to the group) and leaves the group.
 *
 * Delivery is at-least-once: a consumer that dies, or loses its partitions in a rebalance,
 * between a handler's success and the commit redelivers that message. `attempt` counts the
 * attempts of this consumer (Kafka does not count deliveries). A consumer keeps heartbeating while
 * its handlers run, but a rebalance of its group waits for them (up to the group's rebalance
 * timeout): keep handlers (and retry delays) short.
 */
export class KafkaMessageBus implements MessageBus {
  readonly #options: ResolvedOptions;
  readonly #kafkajs: typeof KafkaJS;
  readonly #kafka: KafkaJS.Kafka;
  readonly #topics = new Map<string, Promise<void>>();
  readonly #subscriptions = new Set<KafkaTopicSubscription>();
  #producer: Promise<KafkaJS.Producer> | undefined;
  #admin: Promise<KafkaJS.Admin> | undefined;
  #closed = false;

  constructor(options: KafkaMessageBusOptions = {}) {
    const { partitions, replicationFactor } = options;
    if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1)) {
      throw new ConfigurationError('partitions must be an integer >= 1', { partitions });
    }
    if (replicationFactor !== undefined && (!Number.isInteger(replicationFactor) || replicationFactor < 1)) {
      throw new ConfigurationError('replicationFactor must be an integer >= 1', { replicationFactor });
    }
    const brokers = options.brokers ?? options.kafkaConfig?.brokers ?? ['127.0.0.1:9092'];
    if (Array.isArray(brokers) && brokers.length === 0) {
      throw new ConfigurationError('brokers must name at least one broker');
    }
    this.#options = {
      codec: options.codec ?? jsonCodec,
      partitions,
      replicationFactor,
      createTopics: options.createTopics ?? true,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 500,
      maxWaitTimeMs: options.maxWaitTimeMs ?? 500,
      joinTimeoutMs: options.joinTimeoutMs ?? 60_000,
      commitIntervalMs: options.commitIntervalMs ?? 100,
      logger: options.logger ?? silentLogger,
    };
    this.#kafkajs = loadKafkajs();
    const logger = this.#options.logger;
    const { logLevel } = this.#kafkajs;
    this.#kafka = new this.#kafkajs.Kafka({
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ level, log }) => {
          const { message, ...fields } = log;
          if (level === logLevel.ERROR) logger.error(`kafkajs: ${message}`, fields);
          else if (level === logLevel.WARN) logger.warn(`kafkajs: ${message}`, fields);
          else logger.debug(`kafkajs: ${message}`, fields);
        },
      ...options.kafkaConfig,
      brokers,
      clientId: options.clientId ?? options.kafkaConfig?.clientId ?? 'potter',
    });
  }

  async publish(
    topic: string,
    envelopes: readonly MessageEnvelope[],
    options: PublishOptions = {},
  ): Promise<void> {
    if (this.#closed) throw new ConfigurationError('This KafkaMessageBus is closed.');
    if (envelopes.length === 0) return;
    const codec = this.#options.codec;
    const messages = envelopes.map((envelope) => ({
      key: options.key ?? null,
      value: codec.encode(envelope),
      headers: envelopeHeaders(envelope, codec, options.headers),
    }));
    await this.ensureTopics([topic]);
    await this.send(topic, messages);
  }

  async subscribe(
    topic: string,
    group: string,
    handler: BrokerHandler,
    options: SubscribeToTopicOptions = {},
  ): Promise<TopicSubscription> {
    if (this.#closed) throw new ConfigurationError('This KafkaMessageBus is closed.');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new ConfigurationError('concurrency must be an integer >= 1', { concurrency });
    }
    const retry = resolveBackoff({ maxAttempts: 5, ...options.retry });
    await this.ensureTopics([topic]);
    const subscription = new KafkaTopicSubscription(this, topic, group, handler, {
      concurrency,
      fromBeginning: options.fromBeginning ?? true,
      retry,
    });
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.stop().catch(() => undefined);
      throw error;
    }
    return subscription;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.stop()));
    const [producer, admin] = [this.#producer, this.#admin];
    this.#producer = undefined;
    this.#admin = undefined;
    await Promise.all([
      producer?.then((p) => p.disconnect()).catch(() => undefined),
      admin?.then((a) => a.disconnect()).catch(() => undefined),
    ]);
  }

  // ---- internals shared with the subscriptions ----

  /** @internal */
  get options(): ResolvedOptions {
    return this.#options;
  }

  /** @internal */
  get kafka(): KafkaJS.Kafka {
    return this.#kafka;
  }

  /** @internal */
  get kafkajs(): typeof KafkaJS {
    return this.#kafkajs;
  }

  /** @internal */
  forget(subscription: KafkaTopicSubscription): void {
    this.#subscriptions.delete(subscription);
  }

  /** Creates the topics that do not exist yet (once per topic and bus). @internal */
  async ensureTopics(topics: readonly string[]): Promise<void> {
    if (!this.#options.createTopics) return;
    await Promise.all(
      topics.map((topic) => {
        let ensured = this.#topics.get(topic);
        if (!ensured) {
          ensured = this.#createTopic(topic);
          this.#topics.set(topic, ensured);
          ensured.catch(() => this.#topics.delete(topic));
        }
        return ensured;
      }),
    );
  }

  /** The shared admin client, connected. @internal */
  admin(): Promise<KafkaJS.Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      await admin.connect();
      return admin;
    })();
    this.#admin.catch(() => (this.#admin = undefined));
    return this.#admin;
  }

  /** Sends messages with the shared idempotent producer, acknowledged by every in-sync replica. @internal */
  async send(topic: string, messages: KafkaJS.Message[]): Promise<void> {
    const producer = await this.#connectedProducer();
    await producer.send({ topic, acks: -1, messages });
  }

  #connectedProducer(): Promise<KafkaJS.Producer> {
    this.#producer ??= (async () => {
      const producer = this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: this.#kafkajs.Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      return producer;
    })();
    this.#producer.catch(() => (this.#producer = undefined));
    return this.#producer;
  }

  async #createTopic(topic: string): Promise<void> {
    const admin = await this.admin();
    const { partitions, replicationFactor } = this.#options;
    const config: KafkaJS.ITopicConfig = { topic };
    if (partitions !== undefined) config.numPartitions = partitions;
    if (replicationFactor !== undefined) config.replicationFactor = replicationFactor;
    // Resolves false when the topic exists already (created by someone else, maybe just now).
    await admin.createTopics({ topics: [config], waitForLeaders: true });
  }
}

interface SubscriptionSettings {
  concurrency: number;
  fromBeginning: boolean;
  retry: ResolvedBackoff;
}

/** A consumer of a group on one topic. @internal */
class KafkaTopicSubscription implements TopicSubscription {
  readonly topic: string;
  readonly group: string;
  readonly #bus: KafkaMessageBus;
  readonly #handler: BrokerHandler;
  readonly #settings: SubscriptionSettings;
  readonly #consumer: KafkaJS.Consumer;
  readonly #stopping = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** Next offset to commit per partition (handled, not yet committed). */
  readonly #uncommitted = new Map<number, string>();
  #commitTimer: NodeJS.Timeout | undefined;
  #committing: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;

  constructor(
    bus: KafkaMessageBus,
    topic: string,
    group: string,
    handler: BrokerHandler,
    settings: SubscriptionSettings,
  ) {
    this.#bus = bus;
    this.topic = topic;
    this.group = group;
    this.#handler = handler;
    this.#settings = settings;
    const { sessionTimeoutMs, heartbeatIntervalMs, maxWaitTimeMs } = bus.options;
    this.#consumer = bus.kafka.consumer({
      groupId: group,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs,
      maxWaitTimeInMs: maxWaitTimeMs,
      allowAutoTopicCreation: false,
    });
  }

  get #log(): Logger {
    return this.#bus.options.logger;
  }

  async start(): Promise<void> {
    const consumer = this.#consumer;
    const { GROUP_JOIN, CRASH } = consumer.events;
    let settle: { resolve(): void; reject(error: unknown): void } | undefined;
    const joined = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    consumer.on(GROUP_JOIN, () => settle?.resolve());
    consumer.on(CRASH, (event) => {
      const { error, restart } = event.payload;
      if (!restart) settle?.reject(error);
      if (!this.#stopping.signal.aborted) {
        this.#log.warn(`Kafka consumer crashed${restart ? '; kafkajs restarts it' : ''}.`, {
          topic: this.topic,
          group: this.group,
          error,
        });
      }
    });
    await consumer.connect();
    if (!this.#settings.fromBeginning) await this.#startNewGroupAtEnd();
    // A partition without a committed offset starts at its first retained message; for a new
    // group asked not to start from the beginning, #startNewGroupAtEnd has committed the ends.
    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.#settings.concurrency,
      eachMessage: (payload) => this.#track(this.#handle(payload)),
    });
    await withTimeout(joined, this.#bus.options.joinTimeoutMs, () => this.#joinTimeout());
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping.abort();
    // Messages being handled finish (and commit); nothing new starts.
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#flushCommits();
    try {
      await this.#consumer.disconnect();
    } catch (error) {
      this.#log.warn('Disconnecting the Kafka consumer failed.', {
        topic: this.topic,
        group: this.group,
        error,
      });
    }
    this.#bus.forget(this);
  }

  /**
   * For a group with no committed offset on the topic: commits the current end of each partition
   * (through a short-lived member of the group), so that the group starts with what is published
   * from now on, whenever its consumers fetch.
   */
  async #startNewGroupAtEnd(): Promise<void> {
    const admin = await this.#bus.admin();
    const [committed] = await admin.fetchOffsets({ groupId: this.group, topics: [this.topic] });
    if (committed?.partitions.some((p) => p.offset !== '-1')) return;
    const ends = await admin.fetchTopicOffsets(this.topic);
    const { sessionTimeoutMs, heartbeatIntervalMs } = this.#bus.options;
    const starter = this.#bus.kafka.consumer({
      groupId: this.group,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs,
      maxWaitTimeInMs: 50,
      allowAutoTopicCreation: false,
    });
    try {
      const joined = new Promise<void>((resolve) => starter.on(starter.events.GROUP_JOIN, () => resolve()));
      await starter.connect();
      await starter.subscribe({ topics: [this.topic], fromBeginning: false });
      await starter.run({ autoCommit: false, eachMessage: async () => undefined });
      starter.pause([{ topic: this.topic }]);
      await withTimeout(joined, this.#bus.options.joinTimeoutMs, () => this.#joinTimeout());
      await starter.commitOffsets(
        ends.map((end) => ({ topic: this.topic, partition: end.partition, offset: end.high })),
      );
    } finally {
      await starter.disconnect().catch(() => undefined);
    }
  }

  #joinTimeout(): ConfigurationError {
    return new ConfigurationError(
      `The Kafka consumer of group "${this.group}" did not join its group within ${this.#bus.options.joinTimeoutMs} ms.`,
      { topic: this.topic, group: this.group },
    );
  }

  #track(work: Promise<void>): Promise<void> {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
    return work;
  }

  /** Handles one message, heartbeating meanwhile so that a slow handler keeps its group session. */
  async #handle(payload: KafkaJS.EachMessagePayload): Promise<void> {
    const timer = setInterval(
      () => void payload.heartbeat().catch(() => undefined),
      this.#bus.options.heartbeatIntervalMs,
    );
    timer.unref();
    try {
      await this.#process(payload);
    } finally {
      clearInterval(timer);
    }
  }

  async #process({ topic, partition, message }: KafkaJS.EachMessagePayload): Promise<void> {
    const signal = this.#stopping.signal;
    if (signal.aborted) return; // stopping: left uncommitted, the group gets it again
    const { retry } = this.#settings;
    const codec = this.#bus.options.codec;
    const headers = stringHeaders(message.headers);
    const key = message.key === null ? undefined : message.key.toString('utf8');
    const position = { topic, partition, offset: message.offset };
    let envelope: MessageEnvelope;
    try {
      if (message.value === null)
        throw new Error(`Kafka message ${partition}:${message.offset} has no value`);
      envelope = codec.decode(message.value, headers);
    } catch (error) {
      await this.#deadLetter(position, undefined, message.value ?? undefined, key, headers, error, 1);
      return;
    }
    const brokerMessage: BrokerMessage = {
      envelope: envelope as MessageEnvelope<Record<string, unknown>>,
      topic,
      key,
      headers,
      attempt: 1,
      brokerId: `${partition}:${message.offset}`,
    };
    for (let attempt = 1; ; attempt++) {
      brokerMessage.attempt = attempt;
      try {
        await this.#handler(brokerMessage);
      } catch (error) {
        if (attempt >= retry.maxAttempts) {
          await this.#deadLetter(
            position,
            envelope,
            message.value ?? undefined,
            key,
            headers,
            error,
            attempt,
          );
          return;
        }
        try {
          await sleep(backoffDelay(retry, attempt), signal);
        } catch {
          return; // stopping: left uncommitted, the group gets it again
        }
        continue;
      }
      await this.#commit(position);
      return;
    }
  }

  /**
   * Records a handled message's offset; the offsets of a partition are committed together, after
   * `commitIntervalMs` (messages of a partition are handled in order, so the last one recorded is
   * the partition's commit point).
   */
  async #commit(position: { topic: string; partition: number; offset: string }): Promise<void> {
    this.#uncommitted.set(position.partition, (BigInt(position.offset) + 1n).toString());
    const interval = this.#bus.options.commitIntervalMs;
    if (interval <= 0) {
      await this.#flushCommits();
      return;
    }
    this.#commitTimer ??= setTimeout(() => void this.#flushCommits(), interval);
  }

  /** Commits every recorded offset in one request (one at a time). */
  #flushCommits(): Promise<void> {
    clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    this.#committing = this.#committing.then(async () => {
      if (this.#uncommitted.size === 0) return;
      const offsets = [...this.#uncommitted].map(([partition, offset]) => ({
        topic: this.topic,
        partition,
        offset,
      }));
      this.#uncommitted.clear();
      try {
        await this.#consumer.commitOffsets(offsets);
      } catch (error) {
        // Lost the partitions in a rebalance (or the coordinator): their new owner handles them again.
        this.#log.warn('Committing Kafka offsets failed; those messages may be delivered again.', {
          topic: this.topic,
          group: this.group,
          offsets,
          error,
        });
      }
    });
    return this.#committing;
  }

  async #deadLetter(
    position: { topic: string; partition: number; offset: string },
    envelope: MessageEnvelope | undefined,
    body: Buffer | undefined,
    key: string | undefined,
    headers: Record<string, string>,
    error: unknown,
    attempts: number,
  ): Promise<void> {
    const letter = createDeadLetter({
      topic: this.topic,
      group: this.group,
      envelope,
      raw: body,
      headers,
      key,
      error,
      attempts,
    });
    const dlqEnvelope = deadLetterEnvelope(letter);
    const dlqTopic = deadLetterTopic(this.topic);
    const codec = this.#bus.options.codec;
    for (let failures = 0; ; failures++) {
      try {
        await this.#bus.ensureTopics([dlqTopic]);
        await this.#bus.send(dlqTopic, [
          {
            key: key ?? null,
            value: codec.encode(dlqEnvelope),
            headers: envelopeHeaders(dlqEnvelope, codec, deadLetterHeaders(letter)),
          },
        ]);
        break;
      } catch (writeError) {
        if (this.#stopping.signal.aborted || failures >= 5) {
          // Left uncommitted: the group gets the message again and dead-letters it then.
          this.#log.error('Writing a dead letter failed; the message stays uncommitted.', {
            topic: this.topic,
            group: this.group,
            error: writeError,
          });
          return;
        }
        await sleep(100 * 2 ** failures, this.#stopping.signal).catch(() => undefined);
      }
    }
    this.#log.warn('A message went to the dead-letter topic.', {
      topic: this.topic,
      group: this.group,
      brokerId: `${position.partition}:${position.offset}`,
      error: letter.error,
    });
    await this.#commit(position);
  }
}

/** Kafka headers (Buffers, strings, or lists of them) as strings; a repeated header keeps its last value. */
function stringHeaders(headers: KafkaJS.IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (!headers) return result;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last === undefined) continue;
    result[name] = Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
  }
  return result;
}

/** Resolves like `promise`, or rejects with `error()` after `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
