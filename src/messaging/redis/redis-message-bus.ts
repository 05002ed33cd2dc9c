import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type * as Redis from 'redis';
import { backoffDelay, resolveBackoff, sleep, type ResolvedBackoff } from '../../core/backoff';
import type { MessageEnvelope } from '../../core/envelope';
import { ConfigurationError } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import type {
  BrokerHandler,
  BrokerMessage,
  MessageBus,
  PublishOptions,
  SubscribeToTopicOptions,
  TopicSubscription,
} from '../message-bus';
import { DecodedBrokerMessage } from '../broker-message';
import { encodeJsonText, jsonCodec, type MessageCodec } from '../codecs';
import { createDeadLetter, deadLetterEnvelope, deadLetterHeaders, deadLetterTopic } from '../dead-letter';
import { KeyedDispatcher } from './keyed-dispatcher';
import {
  bufferReplies,
  loadRedis,
  redisErrorText,
  type RawReply,
  type RedisArg,
  type RedisClient,
  type RedisClientOptions,
} from './redis-driver';

/** Options of {@link RedisMessageBus}. */
export interface RedisMessageBusOptions {
  /** A connected (or connectable) client of yours: used as is and not closed by `close()`. */
  client?: RedisClient;
  /** Where to connect when no `client` is given. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** More options of the clients created when no `client` is given. */
  clientOptions?: RedisClientOptions;
  /** How envelopes are encoded in stream entries. @default JSON */
  codec?: MessageCodec;
  /**
   * Streams per topic. With 1 a topic is the stream `<topic>`; with N > 1 it is the streams
   * `<topic>:0` … `<topic>:<N-1>` and a message goes to the stream of its key's hash. Keep it
   * constant for a topic (publishers and subscribers must agree). @default 1
   */
  partitions?: number;
  /** Trim each stream to about this many entries on publish (`XADD … MAXLEN ~ n`). @default no trimming */
  maxLen?: number;
  /**
   * Entries per read (`XREADGROUP … COUNT`); a subscription reads again once it holds at most half
   * as many unfinished entries, so it holds at most 1.5× this many. @default 100
   */
  batchSize?: number;
  /** How long one `XREADGROUP` waits for new entries, in ms (stop() interrupts it). @default 2000 */
  blockMs?: number;
  /**
   * An entry delivered to a consumer and not acknowledged for this long (the consumer died) is
   * claimed by another consumer of the group (`XAUTOCLAIM`). Entries still being handled are kept
   * fresh by their consumer, so a slow handler is not mistaken for a dead one. @default 30000
   */
  claimIdleMs?: number;
  /** How often each subscription looks for entries to reclaim, in ms. @default claimIdleMs / 2, at most 5000 */
  claimIntervalMs?: number;
  /**
   * With `partitions > 1`, each partition stream of a group is read by one consumer of the group at
   * a time, under a lease it renews; a consumer that stops renewing (it died) loses its partitions
   * after this long, and the next owner first handles what it left pending. @default 10000
   */
  partitionLeaseMs?: number;
  /** Prefix of the consumer names (a random suffix makes each subscription's unique). @default `<host>-<pid>` */
  consumerPrefix?: string;
  /** Where connection problems and dead letters are reported. @default silent */
  logger?: Logger;
}

type ResolvedOptions = Required<
  Omit<RedisMessageBusOptions, 'client' | 'url' | 'clientOptions' | 'maxLen' | 'logger' | 'codec'>
> & {
  maxLen: number | undefined;
  logger: Logger;
  codec: MessageCodec;
};

const BODY = 'body';
const KEY = 'key';
const HEADERS = 'headers';
const CONTENT_TYPE = 'content-type';

/**
 * {@link MessageBus} on Redis Streams with consumer groups (node-redis v5, an optional peer
 * dependency: `npm i redis`).
 *
 * - `publish` appends every envelope with `XADD` in one pipeline (one round trip per call),
 *   optionally trimming with `MAXLEN ~`.
 * - `subscribe` creates the group (`XGROUP CREATE … MKSTREAM`, from `0` or `$`) and reads with
 *   `XREADGROUP … BLOCK` on a connection of its own, under a unique consumer name. A handler's
 *   success acknowledges the entry (`XACK`, batched); a failure is retried in the consumer with
 *   backoff, then the entry is written to `<topic>.dlq` as a {@link DeadLetter} and acknowledged.
 *   An entry that cannot be decoded goes to the dead letters at once. Entries left pending by a
 *   dead consumer are reclaimed with `XAUTOCLAIM` after `claimIdleMs`; their attempt count is the
 *   stream's delivery count, and an entry delivered more than `maxAttempts` times is dead-lettered
 *   without another try (a message that crashes its consumers cannot loop forever).
 *
 * Ordering — precisely:
 * - Within one subscription, entries of the same key are handled one after the other in stream
 *   order, whatever `concurrency`; different keys (and keyless entries) run concurrently up to it.
 * - `partitions: 1` (default): the topic is one stream shared by the group's consumers; Redis hands
 *   each read batch to whichever consumer asks, so with several consumers in a group two entries
 *   of one key may be handled at the same time by two of them, and per-key order holds only while
 *   one consumer of the group runs.
 * - `partitions: N > 1`: a key always goes to the same stream `<topic>:<hash(key) mod N>`, and each
 *   partition stream is read by one consumer of the group at a time (a lease in Redis, renewed
 *   every `partitionLeaseMs / 4`, balanced to a fair share of the live consumers; a consumer hands
 *   a partition over only after finishing what it read from it). Per-key order then holds across
 *   the whole group, including across rebalances and across a consumer crash (the next owner first
 *   handles, in order, what the dead one left pending) — except when a consumer stalls longer than
 *   `partitionLeaseMs` (a GC pause, a frozen process) while still handling: then the new owner may
 *   run the same key concurrently. Keep N constant for a topic.
 * - Without ownership (N = 1), a reclaimed entry (`claimIdleMs`) is handled after later entries of
 *   its key.
 * Delivery is at-least-once (a crash between the handler and `XACK` redelivers the entry);
 * `maxLen` trimming may drop entries no group has read yet, so keep it well above any backlog.
 * Needs one Redis node (no cluster: a partitioned topic's streams are read with one command).
 */
export class RedisMessageBus implements MessageBus {
  readonly #options: ResolvedOptions;
  readonly #redis: typeof Redis;
  readonly #ownsClient: boolean;
  readonly #client: RedisClient;
  #connecting: Promise<RedisClient> | undefined;
  readonly #subscriptions = new Set<RedisTopicSubscription>();
  #closed = false;

  constructor(options: RedisMessageBusOptions = {}) {
    const partitions = options.partitions ?? 1;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
      throw new ConfigurationError('partitions must be an integer between 1 and 1024', { partitions });
    }
    const batchSize = options.batchSize ?? 100;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ConfigurationError('batchSize must be an integer >= 1', { batchSize });
    }
    if (options.maxLen !== undefined && (!Number.isInteger(options.maxLen) || options.maxLen < 1)) {
      throw new ConfigurationError('maxLen must be an integer >= 1', { maxLen: options.maxLen });
    }
    const claimIdleMs = options.claimIdleMs ?? 30_000;
    if (!(claimIdleMs > 0)) throw new ConfigurationError('claimIdleMs must be > 0', { claimIdleMs });
    this.#options = {
      partitions,
      batchSize,
      maxLen: options.maxLen,
      blockMs: options.blockMs ?? 2000,
      claimIdleMs,
      claimIntervalMs: options.claimIntervalMs ?? Math.max(10, Math.min(5000, Math.floor(claimIdleMs / 2))),
      partitionLeaseMs: options.partitionLeaseMs ?? 10_000,
      consumerPrefix: options.consumerPrefix ?? `${hostname()}-${process.pid}`,
      logger: options.logger ?? silentLogger,
      codec: options.codec ?? jsonCodec,
    };
    this.#redis = loadRedis();
    if (options.client) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = this.#redis.createClient({
        ...options.clientOptions,
        url: options.url ?? options.clientOptions?.url ?? 'redis://127.0.0.1:6379',
      });
      this.#ownsClient = true;
      this.#client.on('error', (error: unknown) =>
        this.#options.logger.warn('Redis connection error (the client reconnects).', { error }),
      );
    }
  }

  /** The streams of a topic (one per partition). */
  streamsOf(topic: string): string[] {
    if (this.#options.partitions === 1) return [topic];
    return Array.from({ length: this.#options.partitions }, (_, i) => `${topic}:${i}`);
  }

  /** The stream a message of `key` goes to. */
  streamOf(topic: string, key: string | undefined): string {
    const partitions = this.#options.partitions;
    if (partitions === 1) return topic;
    return `${topic}:${key === undefined ? Math.floor(Math.random() * partitions) : partitionOfKey(key, partitions)}`;
  }

  async publish(
    topic: string,
    envelopes: readonly MessageEnvelope[],
    options: PublishOptions = {},
  ): Promise<void> {
    if (this.#closed) throw new ConfigurationError('This RedisMessageBus is closed.');
    if (envelopes.length === 0) return;
    const client = await this.#connection();
    const stream = this.streamOf(topic, options.key);
    const codec = this.#options.codec;
    const extraHeaders = serializeHeaders(options.headers);
    const commands: RedisArg[][] = new Array<RedisArg[]>(envelopes.length);
    for (let i = 0; i < envelopes.length; i++) {
      // A string body goes out in one socket write with the rest of the command (a Buffer takes three).
      const body = codec === jsonCodec ? encodeJsonText(envelopes[i]!) : codec.encode(envelopes[i]!);
      commands[i] = this.xaddArgs(stream, body, options.key, extraHeaders);
    }
    await this.pipeline(client, commands);
  }

  async subscribe(
    topic: string,
    group: string,
    handler: BrokerHandler,
    options: SubscribeToTopicOptions = {},
  ): Promise<TopicSubscription> {
    if (this.#closed) throw new ConfigurationError('This RedisMessageBus is closed.');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new ConfigurationError('concurrency must be an integer >= 1', { concurrency });
    }
    const subscription = new RedisTopicSubscription(this, topic, group, handler, {
      concurrency,
      fromBeginning: options.fromBeginning ?? true,
      retry: resolveBackoff({ maxAttempts: 5, ...options.retry }),
      consumer: `${this.#options.consumerPrefix}-${randomUUID()}`,
    });
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      await subscription.stop().catch(() => undefined);
      throw error;
    }
    return subscription;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.stop()));
    if (this.#ownsClient && this.#client.isOpen) await this.#client.close();
  }

  // ---- internals shared with the subscriptions ----

  /** @internal */
  get options(): ResolvedOptions {
    return this.#options;
  }

  /** @internal */
  get redis(): typeof Redis {
    return this.#redis;
  }

  /** @internal */
  forget(subscription: RedisTopicSubscription): void {
    this.#subscriptions.delete(subscription);
  }

  /** The shared (non-blocking) connection, connected. @internal */
  async connection(): Promise<RedisClient> {
    return this.#connection();
  }

  /** A new connection for blocking reads. @internal */
  async blockingConnection(): Promise<RedisClient> {
    const client = await this.#connection();
    const duplicate = client.duplicate();
    duplicate.on('error', (error: unknown) =>
      this.#options.logger.warn('Redis connection error (the client reconnects).', { error }),
    );
    await duplicate.connect();
    return duplicate;
  }

  /**
   * `XADD` arguments of one entry: fields `body` (the codec's bytes), `content-type`, `key` (when
   * given) and `headers` (the publish call's extra headers as JSON, when any). Potter's own headers
   * are derived from the envelope when the entry is read, so they are not stored twice.
   * @internal
   */
  xaddArgs(
    stream: string,
    body: Buffer | string,
    key: string | undefined,
    extraHeaders: string | undefined,
  ): RedisArg[] {
    const args: RedisArg[] = ['XADD', stream];
    if (this.#options.maxLen !== undefined) args.push('MAXLEN', '~', String(this.#options.maxLen));
    args.push('*', BODY, body, CONTENT_TYPE, this.#options.codec.contentType);
    if (key !== undefined) args.push(KEY, key);
    if (extraHeaders !== undefined) args.push(HEADERS, extraHeaders);
    return args;
  }

  /** Sends commands in one pipeline (written together, no MULTI); rejects on the first error. @internal */
  async pipeline(client: RedisClient, commands: readonly RedisArg[][]): Promise<void> {
    if (commands.length === 1) {
      await client.sendCommand(commands[0]!);
      return;
    }
    const multi = client.multi();
    for (const args of commands) multi.addCommand(args);
    const replies = (await multi.execAsPipeline()) as unknown[];
    for (const reply of replies) if (reply instanceof Error) throw reply;
  }

  async #connection(): Promise<RedisClient> {
    if (this.#client.isReady) return this.#client;
    this.#connecting ??= (async () => {
      if (!this.#client.isOpen) await this.#client.connect();
      return this.#client;
    })();
    try {
      return await this.#connecting;
    } finally {
      this.#connecting = undefined;
    }
  }
}

interface SubscriptionSettings {
  concurrency: number;
  fromBeginning: boolean;
  retry: ResolvedBackoff;
  consumer: string;
}

/** An entry read by a subscription and not yet acknowledged (or released). */
interface HeldEntry {
  stream: string;
  id: string;
  /**
   * `<stream> <id>`, its key in the held map, once it is in there: an entry is held only while it
   * waits for its turn or its handling continues asynchronously (one handled synchronously, the
   * usual case, is acknowledged before anything else can run).
   */
  heldKey: string | undefined;
  body: Buffer | undefined;
  key: string | undefined;
  /** The stored headers (extra headers and content type; not to be modified); Potter's are added once decoded. */
  headers: Readonly<Record<string, string>>;
  headerError: unknown;
  /** The attempt number of its first handling here (the delivery count when claimed). */
  attempt: number;
  /** When its idle time in the group was last reset (read, claimed or refreshed). */
  touchedAt: number;
}

class StoppedError extends Error {}

/** A consumer of a group on the streams of a topic. @internal */
class RedisTopicSubscription implements TopicSubscription {
  readonly topic: string;
  readonly group: string;
  readonly #bus: RedisMessageBus;
  readonly #handler: BrokerHandler;
  readonly #settings: SubscriptionSettings;
  readonly #streams: string[];
  /** Partitioned topic: each partition stream is read by one consumer of the group at a time. */
  readonly #exclusive: boolean;
  /** The streams the next XREADGROUP reads (all, or the owned partitions not being released). */
  #readable: string[] = [];
  /** Partition streams this consumer holds the lease of (including those being released). */
  readonly #owned = new Set<string>();
  readonly #releasing = new Set<string>();
  #balanceLoop: Promise<void> | undefined;
  /** The streams of the XREADGROUP in flight, until its entries are held. */
  #readingStreams: readonly string[] = [];
  #readableWaiter: (() => void) | undefined;
  readonly #dispatcher: KeyedDispatcher<HeldEntry>;
  readonly #held = new Map<string, HeldEntry>();
  readonly #stopping = new AbortController();
  #blocking: RedisClient | undefined;
  #blockingId: string | undefined;
  #reading = false;
  #readLoop: Promise<void> | undefined;
  #claimLoop: Promise<void> | undefined;
  #capacityWaiter: (() => void) | undefined;
  #acks = new Map<string, string[]>();
  /** The stream of the last acknowledgement and its list in #acks (entries come stream by stream). */
  #ackStream: string | undefined;
  #ackIds: string[] | undefined;
  #ackFlush: Promise<void> | undefined;
  /** The read loop is taking a reply: it flushes the acknowledgements made meanwhile itself. */
  #accepting = false;
  readonly #pendingWrites = new Set<Promise<void>>();
  #stopped: Promise<void> | undefined;

  constructor(
    bus: RedisMessageBus,
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
    this.#streams = bus.streamsOf(topic);
    this.#exclusive = this.#streams.length > 1;
    this.#dispatcher = new KeyedDispatcher<HeldEntry>(settings.concurrency, (held) => this.#handle(held));
  }

  get #log(): Logger {
    return this.#bus.options.logger;
  }

  async start(): Promise<void> {
    await this.#ensureGroups(this.#settings.fromBeginning ? '0' : '$');
    this.#blocking = await this.#bus.blockingConnection();
    const blocking = this.#blocking;
    this.#blockingId = String(await blocking.sendCommand(['CLIENT', 'ID']));
    // After a reconnection the connection has a new id (CLIENT UNBLOCK needs it).
    blocking.on('ready', () => {
      blocking.sendCommand(['CLIENT', 'ID']).then(
        (id) => (this.#blockingId = String(id)),
        () => undefined,
      );
    });
    if (this.#exclusive) await this.#balance();
    else this.#readable = this.#streams;
    this.#readLoop = this.#read();
    this.#claimLoop = this.#claim();
    if (this.#exclusive) this.#balanceLoop = this.#balanceForever();
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping.abort(new StoppedError('stopped'));
    this.#capacityWaiter?.();
    this.#readableWaiter?.();
    await this.#interruptRead();
    await Promise.allSettled([this.#readLoop, this.#claimLoop, this.#balanceLoop]);
    await this.#dispatcher.idle();
    await this.#flushAcks();
    await Promise.allSettled([...this.#pendingWrites]);
    if (this.#exclusive) await this.#releaseAll();
    await this.#leaveGroup();
    if (this.#blocking?.isOpen) await this.#blocking.close().catch(() => undefined);
    this.#bus.forget(this);
  }

  /** Unblocks a running `XREADGROUP … BLOCK` (it returns no entries); retried until the read ends. */
  async #interruptRead(): Promise<void> {
    if (this.#blockingId === undefined) return;
    const client = await this.#bus.connection().catch(() => undefined);
    for (let i = 0; this.#reading && i < 1000; i++) {
      if (client) await client.sendCommand(['CLIENT', 'UNBLOCK', this.#blockingId]).catch(() => undefined);
      if (!this.#reading) break;
      await sleep(Math.min(100, 5 * (i + 1)));
    }
  }

  async #ensureGroups(from: '0' | '$'): Promise<void> {
    const client = await this.#bus.connection();
    await Promise.all(
      this.#streams.map(async (stream) => {
        try {
          await client.sendCommand(['XGROUP', 'CREATE', stream, this.group, from, 'MKSTREAM']);
        } catch (error) {
          if (!redisErrorText(error).startsWith('BUSYGROUP')) throw error;
        }
      }),
    );
  }

  // ---- reading ----

  async #read(): Promise<void> {
    const { batchSize, blockMs } = this.#bus.options;
    const signal = this.#stopping.signal;
    const typed = bufferReplies(this.#bus.redis);
    let failures = 0;
    while (!signal.aborted) {
      // Read again once half of what is held is done: reads overlap handling, and each read is big.
      if (this.#held.size > batchSize / 2) {
        await new Promise<void>((resolve) => (this.#capacityWaiter = resolve));
        this.#capacityWaiter = undefined;
        continue;
      }
      const streams = this.#readable;
      if (streams.length === 0) {
        // A partitioned topic's consumer that owns no partition (yet): wait for one.
        await Promise.race([
          new Promise<void>((resolve) => (this.#readableWaiter = resolve)),
          sleep(blockMs, signal).catch(() => undefined),
        ]);
        this.#readableWaiter = undefined;
        continue;
      }
      const count = batchSize;
      const args: RedisArg[] = [
        'XREADGROUP',
        'GROUP',
        this.group,
        this.#settings.consumer,
        'COUNT',
        String(count),
      ];
      args.push('BLOCK', String(blockMs), 'STREAMS', ...streams, ...streams.map(() => '>'));
      let reply: RawReply;
      this.#reading = true;
      this.#readingStreams = streams;
      try {
        reply = await this.#blocking!.sendCommand<RawReply>(args, typed);
        failures = 0;
      } catch (error) {
        this.#reading = false;
        this.#readingStreams = [];
        if (signal.aborted) break;
        failures++;
        if (redisErrorText(error).startsWith('NOGROUP')) {
          // The stream or group vanished (Redis restarted without persistence, or someone deleted it):
          // recreate it from the start of whatever the stream now holds.
          this.#log.warn('Redis consumer group missing; recreating it.', {
            topic: this.topic,
            group: this.group,
          });
          await this.#ensureGroups('0').catch(() => undefined);
        } else {
          this.#log.warn('Reading from Redis failed; retrying.', { topic: this.topic, error });
        }
        await sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)), signal).catch(() => undefined);
        continue;
      }
      this.#reading = false;
      this.#readingStreams = [];
      if (!Array.isArray(reply)) continue;
      const now = Date.now();
      // Entries whose handler returns synchronously are handled (and acknowledged) right here; their
      // acknowledgements go out together once the whole reply is taken, as one XACK per stream.
      this.#accepting = true;
      try {
        for (const streamReply of reply) {
          if (!Array.isArray(streamReply)) continue;
          const stream = String(streamReply[0]);
          const entries = streamReply[1];
          if (!Array.isArray(entries)) continue;
          for (const entry of entries) {
            if (!Array.isArray(entry)) continue;
            this.#accept(stream, String(entry[0]), entry[1] ?? null, 1, now, false);
          }
        }
      } finally {
        this.#accepting = false;
      }
      if (this.#acks.size > 0) void this.#flushAcks();
    }
  }

  /**
   * Takes an entry read or claimed: handles it at once when its key's turn allows and the handler
   * returns synchronously; else holds it until it is done.
   */
  #accept(
    stream: string,
    id: string,
    fields: RawReply,
    attempt: number,
    now: number,
    claimed: boolean,
  ): void {
    // A new entry (`>`) cannot be held already; a claimed one may be ours, still being handled.
    if (claimed && this.#held.has(`${stream} ${id}`)) return;
    let body: Buffer | undefined;
    let key: string | undefined;
    let headers: Record<string, string> | undefined;
    let contentType: string | undefined;
    let headerError: unknown;
    if (Array.isArray(fields)) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const name = fieldName(fields[i]);
        const value = fields[i + 1];
        if (name === BODY && Buffer.isBuffer(value)) body = value;
        else if (name === CONTENT_TYPE) contentType = this.#contentTypeOf(value);
        else if (name === KEY) key = String(value);
        else if (name === HEADERS) {
          try {
            headers = parseHeaders(String(value));
          } catch (error) {
            headerError = error;
          }
        }
      }
    }
    const codec = this.#bus.options.codec;
    if (headers === undefined && codec === jsonCodec && contentType === codec.contentType) {
      // The usual entry: only the content type is stored. Shared (the JSON codec only reads it).
      headers = this.#plainHeaders ??= Object.freeze({ [CONTENT_TYPE]: contentType });
    } else {
      headers ??= {};
      if (contentType !== undefined) headers[CONTENT_TYPE] = contentType;
    }
    const held: HeldEntry = {
      stream,
      id,
      heldKey: undefined,
      body,
      key,
      headers,
      headerError,
      attempt,
      touchedAt: now,
    };
    this.#dispatcher.push(key, held);
    // Not done yet (waiting for its turn, or handled asynchronously): hold it until it is.
    if (held.heldKey === undefined) {
      held.heldKey = `${stream} ${id}`;
      this.#held.set(held.heldKey, held);
    }
  }

  #plainHeaders: Readonly<Record<string, string>> | undefined;
  #contentTypeBytes: Buffer | undefined;

  /** The content type field as a string (the codec's own without decoding it again). */
  #contentTypeOf(value: RawReply | undefined): string {
    const contentType = this.#bus.options.codec.contentType;
    this.#contentTypeBytes ??= Buffer.from(contentType, 'utf8');
    return Buffer.isBuffer(value) && sameBytes(value, this.#contentTypeBytes) ? contentType : String(value);
  }

  // ---- handling ----

  /**
   * Decodes and handles an entry. A handler that returns without a promise is acknowledged at once
   * and this returns nothing (the dispatcher then runs the next entry in the same loop); retries,
   * dead letters and asynchronous handlers continue in a promise.
   */
  #handle(held: HeldEntry): Promise<void> | void {
    const { body, key, headerError, attempt: firstAttempt } = held;
    const codec = this.#bus.options.codec;
    let envelope: MessageEnvelope;
    try {
      if (body === undefined) throw new Error(`Stream entry ${held.id} has no "${BODY}" field`);
      if (headerError !== undefined) throw headerError;
      envelope = codec.decode(body, held.headers);
    } catch (error) {
      return this.#deadLetter(held, undefined, { ...held.headers }, error, firstAttempt);
    }
    const message = new DecodedBrokerMessage(
      envelope,
      this.topic,
      key,
      held.headers,
      codec,
      firstAttempt,
      held.id,
    );
    if (firstAttempt > this.#settings.retry.maxAttempts) {
      const error = Object.assign(
        new Error(
          `Delivered ${firstAttempt} times without being acknowledged (its consumers died handling it)`,
        ),
        { code: 'POTTER_DELIVERY_LIMIT' },
      );
      return this.#deadLetter(held, envelope, message.headers, error, firstAttempt - 1);
    }
    let result: Promise<void> | void;
    try {
      result = this.#handler(message);
    } catch (error) {
      return this.#retry(held, envelope, message, error, firstAttempt);
    }
    if (
      result !== undefined &&
      result !== null &&
      typeof (result as { then?: unknown }).then === 'function'
    ) {
      return Promise.resolve(result as PromiseLike<void>).then(
        () => this.#ack(held),
        (error: unknown) => this.#retry(held, envelope, message, error, firstAttempt),
      );
    }
    this.#ack(held);
  }

  /** After attempt `failed` of an entry threw `error`: backs off and tries again, or dead-letters it. */
  async #retry(
    held: HeldEntry,
    envelope: MessageEnvelope,
    message: BrokerMessage,
    error: unknown,
    failed: number,
  ): Promise<void> {
    const { retry } = this.#settings;
    const firstAttempt = held.attempt;
    for (let attempt = failed; ;) {
      if (attempt >= retry.maxAttempts) {
        await this.#deadLetter(held, envelope, message.headers, error, attempt);
        return;
      }
      if (this.#stopping.signal.aborted) return this.#release(held);
      try {
        await sleep(backoffDelay(retry, attempt - firstAttempt + 1), this.#stopping.signal);
      } catch {
        return this.#release(held); // stopping: leave it pending, another consumer reclaims it
      }
      attempt++;
      message.attempt = attempt;
      try {
        await this.#handler(message);
      } catch (failure) {
        error = failure;
        continue;
      }
      this.#ack(held);
      return;
    }
  }

  /** Forgets an entry without acknowledging it: it stays pending in the group and gets reclaimed. */
  #release(held: HeldEntry): void {
    this.#forget(held);
  }

  #ack(held: HeldEntry): void {
    let ids = held.stream === this.#ackStream ? this.#ackIds : undefined;
    if (ids === undefined) {
      ids = this.#acks.get(held.stream);
      if (!ids) this.#acks.set(held.stream, (ids = []));
      this.#ackStream = held.stream;
      this.#ackIds = ids;
    }
    ids.push(held.id);
    if (this.#ackFlush === undefined && !this.#accepting) {
      this.#ackFlush = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flushAcks());
    }
    this.#forget(held);
  }

  /** Marks an entry done here (acknowledged or released). */
  #forget(held: HeldEntry): void {
    if (held.heldKey === undefined) {
      held.heldKey = ''; // done before it was held: #accept must not hold it any more
      return;
    }
    if (held.heldKey === '') return;
    this.#held.delete(held.heldKey);
    this.#wakeReader();
  }

  #wakeReader(): void {
    if (this.#capacityWaiter && this.#held.size <= this.#bus.options.batchSize / 2) this.#capacityWaiter();
  }

  async #flushAcks(): Promise<void> {
    this.#ackFlush = undefined;
    if (this.#acks.size === 0) return;
    const acks = this.#acks;
    this.#acks = new Map();
    this.#ackStream = undefined;
    this.#ackIds = undefined;
    const write = (async () => {
      try {
        const client = await this.#bus.connection();
        await this.#bus.pipeline(
          client,
          [...acks].map(([stream, ids]) => ['XACK', stream, this.group, ...ids]),
        );
      } catch (error) {
        // The entries stay pending: they will be reclaimed and handled again (at-least-once).
        this.#log.warn('Acknowledging Redis stream entries failed.', { topic: this.topic, error });
      }
    })();
    this.#pendingWrites.add(write);
    await write;
    this.#pendingWrites.delete(write);
  }

  async #deadLetter(
    held: HeldEntry,
    envelope: MessageEnvelope | undefined,
    headers: Record<string, string>,
    error: unknown,
    attempts: number,
  ): Promise<void> {
    const { body, key } = held;
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
    const bus = this.#bus;
    for (let failures = 0; ; failures++) {
      try {
        const client = await bus.connection();
        const multi = client.multi();
        multi.addCommand(
          bus.xaddArgs(
            bus.streamOf(dlqTopic, key),
            bus.options.codec.encode(dlqEnvelope),
            key,
            serializeHeaders(deadLetterHeaders(letter)),
          ),
        );
        multi.addCommand(['XACK', held.stream, this.group, held.id]);
        await multi.exec();
        this.#log.warn('A message went to the dead-letter topic.', {
          topic: this.topic,
          group: this.group,
          brokerId: held.id,
          error: letter.error,
        });
        this.#release(held);
        return;
      } catch (writeError) {
        if (this.#stopping.signal.aborted || failures >= 5) {
          this.#log.error('Writing a dead letter failed; the entry stays pending.', { error: writeError });
          this.#release(held);
          return;
        }
        await sleep(100 * 2 ** failures, this.#stopping.signal).catch(() => undefined);
      }
    }
  }

  // ---- reclaiming and keeping held entries fresh ----

  async #claim(): Promise<void> {
    const { claimIntervalMs, claimIdleMs } = this.#bus.options;
    const signal = this.#stopping.signal;
    const cursors = new Map<string, string>();
    while (!signal.aborted) {
      try {
        await sleep(claimIntervalMs, signal);
      } catch {
        break;
      }
      try {
        await this.#refreshHeld();
        for (const stream of this.#readable) {
          if (signal.aborted) break;
          const next = await this.#claimStream(stream, cursors.get(stream) ?? '0-0', claimIdleMs);
          cursors.set(stream, next);
        }
      } catch (error) {
        if (!signal.aborted)
          this.#log.warn('Reclaiming Redis stream entries failed.', { topic: this.topic, error });
      }
    }
  }

  /** Resets the idle time of entries held for a while, so that other consumers do not reclaim them. */
  async #refreshHeld(): Promise<void> {
    const { claimIdleMs } = this.#bus.options;
    const now = Date.now();
    const stale = new Map<string, HeldEntry[]>();
    for (const held of this.#held.values()) {
      if (now - held.touchedAt < claimIdleMs / 3) continue;
      let list = stale.get(held.stream);
      if (!list) stale.set(held.stream, (list = []));
      list.push(held);
    }
    if (stale.size === 0) return;
    const client = await this.#bus.connection();
    const commands: RedisArg[][] = [];
    for (const [stream, entries] of stale) {
      for (const entry of entries) entry.touchedAt = now;
      commands.push([
        'XCLAIM',
        stream,
        this.group,
        this.#settings.consumer,
        '0',
        ...entries.map((entry) => entry.id),
        'JUSTID',
      ]);
    }
    await this.#bus.pipeline(client, commands);
  }

  /** Claims (XAUTOCLAIM) entries of `stream` idle for `minIdleMs` and handles them; returns the next cursor. */
  async #claimStream(stream: string, cursor: string, minIdleMs: number, room?: number): Promise<string> {
    const { batchSize } = this.#bus.options;
    room ??= batchSize - this.#held.size;
    if (room <= 0) return cursor;
    const client = await this.#bus.connection();
    const typed = bufferReplies(this.#bus.redis);
    const args = ['XAUTOCLAIM', stream, this.group, this.#settings.consumer, String(minIdleMs), cursor];
    const reply = await client.sendCommand<RawReply>([...args, 'COUNT', String(room)], typed);
    if (!Array.isArray(reply)) return '0-0';
    const next = String(reply[0]);
    const claimed = Array.isArray(reply[1]) ? reply[1] : [];
    const entries = claimed.filter((entry): entry is RawReply[] => Array.isArray(entry) && entry[1] !== null);
    if (entries.length === 0) return next;
    // Their delivery counts (XAUTOCLAIM has just counted this delivery) give the attempt numbers.
    const ids = entries.map((entry) => String(entry[0]));
    const pending = await client.sendCommand<RawReply>([
      'XPENDING',
      stream,
      this.group,
      ids[0]!,
      ids[ids.length - 1]!,
      String(ids.length + this.#held.size + batchSize),
      this.#settings.consumer,
    ]);
    const deliveries = new Map<string, number>();
    if (Array.isArray(pending)) {
      for (const row of pending) if (Array.isArray(row)) deliveries.set(String(row[0]), Number(row[3]));
    }
    const now = Date.now();
    this.#log.info('Claimed Redis stream entries left pending by another consumer.', {
      topic: this.topic,
      group: this.group,
      count: entries.length,
    });
    for (const entry of entries) {
      const id = String(entry[0]);
      this.#accept(stream, id, entry[1] ?? null, Math.max(1, deliveries.get(id) ?? 1), now, true);
    }
    return next;
  }

  // ---- partition ownership (partitioned topics) ----

  #leaseKey(stream: string): string {
    return `${stream}:lease:${this.group}`;
  }

  get #membersKey(): string {
    return `${this.topic}:members:${this.group}`;
  }

  async #balanceForever(): Promise<void> {
    const { partitionLeaseMs } = this.#bus.options;
    const signal = this.#stopping.signal;
    const interval = Math.max(20, Math.min(1000, Math.floor(partitionLeaseMs / 4)));
    while (!signal.aborted) {
      try {
        await sleep(interval, signal);
        await this.#balance();
      } catch (error) {
        if (!signal.aborted)
          this.#log.warn('Balancing Redis partitions failed.', { topic: this.topic, error });
      }
    }
  }

  /**
   * One round of partition balancing: heartbeat in the group's member set, renew the leases held,
   * release those above a fair share (once their entries are done), and take free ones up to it.
   */
  async #balance(): Promise<void> {
    const { partitionLeaseMs } = this.#bus.options;
    const consumer = this.#settings.consumer;
    const client = await this.#bus.connection();
    const now = Date.now();
    const members = this.#membersKey;
    const multi = client.multi();
    multi.addCommand(['ZADD', members, String(now), consumer]);
    multi.addCommand(['ZREMRANGEBYSCORE', members, '-inf', String(now - partitionLeaseMs)]);
    multi.addCommand(['PEXPIRE', members, String(partitionLeaseMs * 3)]);
    multi.addCommand(['ZCARD', members]);
    const replies = (await multi.exec()) as unknown[];
    const live = Math.max(1, Number(replies[3]));
    const share = Math.ceil(this.#streams.length / live);

    for (const stream of [...this.#owned]) {
      const renewed = await client.sendCommand([
        'EVAL',
        RENEW_LEASE,
        '1',
        this.#leaseKey(stream),
        consumer,
        String(partitionLeaseMs),
      ]);
      if (Number(renewed) !== 1) {
        this.#log.warn('Lost the lease of a Redis partition.', { stream, group: this.group });
        this.#owned.delete(stream);
        this.#releasing.delete(stream);
        this.#setReadable();
      }
    }

    const kept = [...this.#owned].filter((stream) => !this.#releasing.has(stream));
    for (const stream of kept.slice(share)) {
      this.#releasing.add(stream);
      this.#setReadable();
    }
    for (const stream of [...this.#releasing]) {
      if (this.#holds(stream) || this.#readingStreams.includes(stream)) continue;
      await client.sendCommand(['EVAL', RELEASE_LEASE, '1', this.#leaseKey(stream), consumer]);
      this.#releasing.delete(stream);
      this.#owned.delete(stream);
    }

    if (this.#stopping.signal.aborted) return;
    const offset = Math.floor(Math.random() * this.#streams.length);
    for (let i = 0; i < this.#streams.length && this.#owned.size < share; i++) {
      const stream = this.#streams[(offset + i) % this.#streams.length]!;
      if (this.#owned.has(stream)) continue;
      const taken = await client.sendCommand([
        'SET',
        this.#leaseKey(stream),
        consumer,
        'NX',
        'PX',
        String(partitionLeaseMs),
      ]);
      if (String(taken) !== 'OK') continue;
      this.#owned.add(stream);
      // What the previous owner left pending comes first (it is older than anything unread).
      let cursor = '0-0';
      do cursor = await this.#claimStream(stream, cursor, 0, 1000);
      while (cursor !== '0-0' && !this.#stopping.signal.aborted);
      this.#setReadable();
    }
  }

  #holds(stream: string): boolean {
    for (const held of this.#held.values()) if (held.stream === stream) return true;
    return false;
  }

  #setReadable(): void {
    this.#readable = [...this.#owned].filter((stream) => !this.#releasing.has(stream)).sort();
    this.#readableWaiter?.();
    // A blocked read must see the new set: interrupt it (it returns no entries).
    if (this.#reading && this.#blockingId !== undefined) {
      void this.#bus
        .connection()
        .then((client) => client.sendCommand(['CLIENT', 'UNBLOCK', this.#blockingId!]))
        .catch(() => undefined);
    }
  }

  async #releaseAll(): Promise<void> {
    try {
      const client = await this.#bus.connection();
      const commands: RedisArg[][] = [['ZREM', this.#membersKey, this.#settings.consumer]];
      for (const stream of this.#owned) {
        commands.push(['EVAL', RELEASE_LEASE, '1', this.#leaseKey(stream), this.#settings.consumer]);
      }
      await this.#bus.pipeline(client, commands);
      this.#owned.clear();
      this.#releasing.clear();
    } catch (error) {
      this.#log.debug('Releasing Redis partition leases failed (they expire).', { topic: this.topic, error });
    }
  }

  /** Removes this consumer from the group when it holds nothing (else its entries wait to be reclaimed). */
  async #leaveGroup(): Promise<void> {
    try {
      const client = await this.#bus.connection();
      for (const stream of this.#streams) {
        const pending = await client.sendCommand<RawReply>([
          'XPENDING',
          stream,
          this.group,
          '-',
          '+',
          '1',
          this.#settings.consumer,
        ]);
        if (Array.isArray(pending) && pending.length === 0) {
          await client.sendCommand(['XGROUP', 'DELCONSUMER', stream, this.group, this.#settings.consumer]);
        }
      }
    } catch (error) {
      this.#log.debug('Leaving the Redis consumer group failed.', { topic: this.topic, error });
    }
  }
}

const RENEW_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The partition of a key: FNV-1a of its UTF-16 code units, modulo `partitions`. */
export function partitionOfKey(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

const BODY_BYTES = Buffer.from(BODY);
const CONTENT_TYPE_BYTES = Buffer.from(CONTENT_TYPE);
const KEY_BYTES = Buffer.from(KEY);
const HEADERS_BYTES = Buffer.from(HEADERS);

/** A field name: one of the known ones without decoding the bytes when it can, else the string. */
function fieldName(raw: RawReply | undefined): string {
  if (Buffer.isBuffer(raw)) {
    // The known names have different lengths.
    switch (raw.length) {
      case 4:
        if (sameBytes(raw, BODY_BYTES)) return BODY;
        break;
      case 12:
        if (sameBytes(raw, CONTENT_TYPE_BYTES)) return CONTENT_TYPE;
        break;
      case 3:
        if (sameBytes(raw, KEY_BYTES)) return KEY;
        break;
      case 7:
        if (sameBytes(raw, HEADERS_BYTES)) return HEADERS;
        break;
    }
    return raw.toString('utf8');
  }
  return String(raw);
}

/** Byte equality, in JS: for a few bytes cheaper than `Buffer.equals` (a native call). */
function sameBytes(bytes: Buffer, known: Buffer): boolean {
  const length = known.length;
  if (bytes.length !== length) return false;
  for (let i = 0; i < length; i++) if (bytes[i] !== known[i]) return false;
  return true;
}

function serializeHeaders(headers: Readonly<Record<string, string>> | undefined): string | undefined {
  if (headers === undefined) return undefined;
  for (const _ in headers) return JSON.stringify(headers);
  return undefined;
}

function parseHeaders(text: string): Record<string, string> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('Headers are not an object');
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) headers[name] = String(header);
  return headers;
}
