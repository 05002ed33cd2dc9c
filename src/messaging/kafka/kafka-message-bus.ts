import type * as KafkaJS from 'kafkajs';
import { backoffDelay, resolveBackoff, sleep, type ResolvedBackoff } from '../../core/backoff';
import type { MessageEnvelope } from '../../core/envelope';
import { ConfigurationError } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import { DecodedBrokerMessage } from '../broker-message';
import { encodeJsonText, envelopeHeaders, jsonCodec, POTTER_HEADERS, type MessageCodec } from '../codecs';
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
  /**
   * Also write Potter's routing headers on the wire: `potter-id`, `potter-type`,
   * `potter-schema-version`, `potter-kind` and the envelope's own `metadata.headers`, for
   * consumers that are not Potter or tools that route by header. Without it a message carries
   * `content-type`, `traceparent` (when the envelope has one) and the publish call's `headers`
   * only; the body holds the whole envelope, and Potter's consumers derive the other headers from
   * it, so handlers and dead letters see them either way (kafkajs encodes each header of each
   * record: five cost about twice as much as one). @default false
   */
  routingHeaders?: boolean;
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
  routingHeaders: boolean;
  logger: Logger;
};

/**
 * {@link MessageBus} on Apache Kafka through `kafkajs` (an optional peer dependency: `npm i kafkajs`).
 *
 * - Topics (and their `<topic>.dlq`) are created through the admin client when missing, with
 *   `partitions` partitions; the broker's auto-creation is never relied on.
 * - `publish` sends every envelope of a call in one request of an idempotent producer (`acks=-1`,
 *   one request in flight), keyed by `options.key`, so a key's messages keep their order. A
 *   record's headers are `content-type`, `traceparent` (when the envelope has one) and the call's
 *   `headers`; handlers see Potter's other headers all the same, derived from the decoded
 *   envelope (`routingHeaders` writes them on the wire too).
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
      routingHeaders: options.routingHeaders ?? false,
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
    const key = options.key ?? null;
    const messages = new Array<KafkaJS.Message>(envelopes.length);
    for (let i = 0; i < envelopes.length; i++) {
      const envelope = envelopes[i]!;
      messages[i] = {
        key,
        value: this.encode(envelope),
        headers: this.wireHeaders(envelope, options.headers),
      };
    }
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

  /** An envelope's message value (the JSON codec's text as a string: kafkajs writes it without a copy). @internal */
  encode(envelope: MessageEnvelope): Buffer | string {
    const codec = this.#options.codec;
    return codec === jsonCodec ? encodeJsonText(envelope) : codec.encode(envelope);
  }

  /**
   * The headers an envelope's message carries: `extra` (a publish call's headers), then
   * `content-type` and `traceparent` (when the envelope has one); with `routingHeaders`, all of
   * {@link envelopeHeaders}. @internal
   */
  wireHeaders(
    envelope: MessageEnvelope,
    extra: Readonly<Record<string, string>> | undefined,
  ): KafkaJS.IHeaders {
    const codec = this.#options.codec;
    if (this.#options.routingHeaders) return envelopeHeaders(envelope, codec, extra);
    const headers: Record<string, string> = extra === undefined ? {} : { ...extra };
    headers[POTTER_HEADERS.contentType] = codec.contentType;
    const { traceparent } = envelope.metadata;
    if (traceparent !== undefined) headers[POTTER_HEADERS.traceparent] = traceparent;
    return headers;
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
  /** Messages being handled (decoded, handled, retried or dead-lettered), and who waits for none. */
  #active = 0;
  #idleWaiters: Array<() => void> = [];
  /** The consumer's heartbeat (kafkajs gives it with each message), sent while handlers run. */
  #heartbeat: (() => Promise<void>) | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  /** The last handled offset per partition, not yet committed. */
  readonly #uncommitted = new Map<number, string>();
  /** The codec's `content-type` as the bytes kafkajs hands over, and the headers of such a message. */
  readonly #contentType: Buffer;
  readonly #plainHeaders: Readonly<Record<string, string>>;
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
    const contentType = bus.options.codec.contentType;
    this.#contentType = Buffer.from(contentType, 'utf8');
    this.#plainHeaders = Object.freeze({ [POTTER_HEADERS.contentType]: contentType });
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
      eachMessage: (payload) => this.#onMessage(payload),
    });
    // kafkajs heartbeats between messages; this keeps a slow handler's group session alive.
    this.#heartbeatTimer = setInterval(() => {
      if (this.#active > 0) void this.#heartbeat?.().catch(() => undefined);
    }, this.#bus.options.heartbeatIntervalMs);
    this.#heartbeatTimer.unref();
    await withTimeout(joined, this.#bus.options.joinTimeoutMs, () => this.#joinTimeout());
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping.abort();
    // Messages being handled finish (and commit); nothing new starts.
    while (this.#active > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    clearInterval(this.#heartbeatTimer);
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

  /**
   * Handles one message. A handler that returns without a promise is committed at once (no
   * promise of Potter's per message); retries, dead letters and asynchronous handlers continue in
   * a promise, which kafkajs awaits before the partition's next message.
   */
  #onMessage(payload: KafkaJS.EachMessagePayload): Promise<void> {
    if (this.#stopping.signal.aborted) return DONE; // stopping: left uncommitted, the group gets it again
    this.#heartbeat = payload.heartbeat;
    this.#active++;
    let pending: Promise<void> | void;
    try {
      pending = this.#process(payload);
    } catch (error) {
      this.#settle();
      throw error;
    }
    if (pending === undefined) {
      this.#settle();
      return DONE;
    }
    return pending.finally(() => this.#settle());
  }

  #settle(): void {
    if (--this.#active > 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #process({ topic, partition, message }: KafkaJS.EachMessagePayload): Promise<void> | void {
    const codec = this.#bus.options.codec;
    const headers = this.#wireHeaders(message.headers);
    const key = message.key === null ? undefined : message.key.toString('utf8');
    const { offset, value } = message;
    let envelope: MessageEnvelope;
    try {
      if (value === null) throw new Error(`Kafka message ${partition}:${offset} has no value`);
      envelope = codec.decode(value, headers);
    } catch (error) {
      return this.#deadLetter(
        partition,
        offset,
        undefined,
        value ?? undefined,
        key,
        { ...headers },
        error,
        1,
      );
    }
    const brokerMessage = new DecodedBrokerMessage(
      envelope,
      topic,
      key,
      headers,
      codec,
      1,
      `${partition}:${offset}`,
    );
    let result: Promise<void> | void;
    try {
      result = this.#handler(brokerMessage);
    } catch (error) {
      return this.#retry(partition, offset, value, key, envelope, brokerMessage, error);
    }
    if (
      result !== undefined &&
      result !== null &&
      typeof (result as { then?: unknown }).then === 'function'
    ) {
      return Promise.resolve(result as PromiseLike<void>).then(
        () => this.#commit(partition, offset),
        (error: unknown) => this.#retry(partition, offset, value, key, envelope, brokerMessage, error),
      );
    }
    return this.#commit(partition, offset);
  }

  /** After the first attempt of a message threw `error`: backs off and tries again, then dead-letters it. */
  async #retry(
    partition: number,
    offset: string,
    body: Buffer,
    key: string | undefined,
    envelope: MessageEnvelope,
    message: BrokerMessage,
    error: unknown,
  ): Promise<void> {
    const { retry } = this.#settings;
    for (let attempt = 1; ; attempt++) {
      if (attempt >= retry.maxAttempts) {
        await this.#deadLetter(partition, offset, envelope, body, key, message.headers, error, attempt);
        return;
      }
      try {
        await sleep(backoffDelay(retry, attempt), this.#stopping.signal);
      } catch {
        return; // stopping: left uncommitted, the group gets it again
      }
      message.attempt = attempt + 1;
      try {
        await this.#handler(message);
      } catch (failure) {
        error = failure;
        continue;
      }
      await this.#commit(partition, offset);
      return;
    }
  }

  /**
   * A message's headers as strings. The usual message of a Potter publisher carries only the
   * codec's `content-type`: its headers are a shared object (read-only), without decoding bytes.
   */
  #wireHeaders(raw: KafkaJS.IHeaders | undefined): Readonly<Record<string, string>> {
    if (raw === undefined) return {};
    let plain = false;
    for (const name in raw) {
      if (name !== POTTER_HEADERS.contentType) {
        plain = false;
        break;
      }
      const value = raw[name];
      plain = Buffer.isBuffer(value) && value.equals(this.#contentType);
    }
    return plain ? this.#plainHeaders : stringHeaders(raw);
  }

  /**
   * Records a handled message's offset; the offsets of a partition are committed together, after
   * `commitIntervalMs` (messages of a partition are handled in order, so the last one recorded is
   * the partition's commit point).
   */
  #commit(partition: number, offset: string): Promise<void> | void {
    this.#uncommitted.set(partition, offset);
    const interval = this.#bus.options.commitIntervalMs;
    if (interval <= 0) return this.#flushCommits();
    this.#commitTimer ??= setTimeout(() => void this.#flushCommits(), interval);
  }

  /** Commits every recorded offset in one request (one at a time). */
  #flushCommits(): Promise<void> {
    clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    this.#committing = this.#committing.then(async () => {
      if (this.#uncommitted.size === 0) return;
      // The position to commit is the next offset to read.
      const offsets = [...this.#uncommitted].map(([partition, handled]) => ({
        topic: this.topic,
        partition,
        offset: (BigInt(handled) + 1n).toString(),
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
    partition: number,
    offset: string,
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
    for (let failures = 0; ; failures++) {
      try {
        await this.#bus.ensureTopics([dlqTopic]);
        await this.#bus.send(dlqTopic, [
          {
            key: key ?? null,
            value: this.#bus.encode(dlqEnvelope),
            headers: this.#bus.wireHeaders(dlqEnvelope, deadLetterHeaders(letter)),
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
      brokerId: `${partition}:${offset}`,
      error: letter.error,
    });
    await this.#commit(partition, offset);
  }
}

const DONE: Promise<void> = Promise.resolve();

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
