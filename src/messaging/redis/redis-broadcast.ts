import type { MessageEnvelope } from '../../core/envelope';
import { silentLogger, type Logger } from '../../core/logger';
import { jsonCodec, type MessageCodec } from '../codecs';
import { loadRedis, type RedisClient, type RedisClientOptions } from './redis-driver';

/** Options of {@link RedisBroadcast}. */
export interface RedisBroadcastOptions {
  /** A client of yours for publishing (subscriptions use a duplicate of it); not closed by `close()`. */
  client?: RedisClient;
  /** Where to connect when no `client` is given. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** More options of the clients created when no `client` is given. */
  clientOptions?: RedisClientOptions;
  /** How envelopes are encoded. @default JSON */
  codec?: MessageCodec;
  /** Where undecodable messages and handler failures are reported. @default silent */
  logger?: Logger;
}

/** Receives a broadcast envelope. Failures are logged, never retried. */
export type BroadcastHandler = (envelope: MessageEnvelope, channel: string) => Promise<void> | void;

/** A running broadcast subscription. */
export interface BroadcastSubscription {
  readonly channel: string;
  /** Stops receiving. */
  unsubscribe(): Promise<void>;
}

/**
 * Broadcast-only events over Redis pub/sub (`PUBLISH` / `SUBSCRIBE`): every process subscribed to
 * a channel when a message is published receives it once. **At-most-once**: nothing is stored — a
 * subscriber that is not connected at that moment (not started yet, reconnecting, restarting)
 * never sees the message, a failing handler is not retried, and there are no consumer groups or
 * dead letters. Use it for cache invalidation, live notifications and the like; use
 * `RedisMessageBus` for anything that must not be lost.
 */
export class RedisBroadcast {
  readonly #client: RedisClient;
  readonly #ownsClient: boolean;
  readonly #codec: MessageCodec;
  readonly #logger: Logger;
  #subscriber: Promise<RedisClient> | undefined;
  #connecting: Promise<void> | undefined;

  constructor(options: RedisBroadcastOptions = {}) {
    this.#codec = options.codec ?? jsonCodec;
    this.#logger = options.logger ?? silentLogger;
    if (options.client) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = loadRedis().createClient({
        ...options.clientOptions,
        url: options.url ?? options.clientOptions?.url ?? 'redis://127.0.0.1:6379',
      });
      this.#ownsClient = true;
      this.#client.on('error', (error: unknown) => this.#logger.warn('Redis connection error.', { error }));
    }
  }

  /** Publishes envelopes to a channel (one pipeline); resolves with how many subscribers received the last one. */
  async publish(channel: string, envelopes: readonly MessageEnvelope[]): Promise<number> {
    if (envelopes.length === 0) return 0;
    await this.#connect();
    const replies = await Promise.all(
      envelopes.map((envelope) =>
        this.#client.sendCommand(['PUBLISH', channel, this.#codec.encode(envelope)]),
      ),
    );
    return Number(replies[replies.length - 1]);
  }

  /** Subscribes to a channel on this broadcaster's subscriber connection. */
  async subscribe(channel: string, handler: BroadcastHandler): Promise<BroadcastSubscription> {
    const subscriber = await this.#subscriberConnection();
    const listener = (message: Buffer, from: Buffer | string): void => {
      let envelope: MessageEnvelope;
      try {
        envelope = this.#codec.decode(message);
      } catch (error) {
        this.#logger.warn('Dropped an undecodable broadcast message.', { channel, error });
        return;
      }
      void (async () => {
        try {
          await handler(envelope, String(from));
        } catch (error) {
          this.#logger.warn('A broadcast handler failed (broadcasts are not retried).', { channel, error });
        }
      })();
    };
    await subscriber.subscribe(channel, listener, true);
    return {
      channel,
      unsubscribe: async () => {
        if (subscriber.isOpen) await subscriber.unsubscribe(channel, listener, true);
      },
    };
  }

  /** Closes the subscriber connection, and the publishing one when this broadcaster created it. */
  async close(): Promise<void> {
    const subscriber = await this.#subscriber?.catch(() => undefined);
    this.#subscriber = undefined;
    if (subscriber?.isOpen) await subscriber.close();
    if (this.#ownsClient && this.#client.isOpen) await this.#client.close();
  }

  async #connect(): Promise<void> {
    if (this.#client.isOpen) return;
    this.#connecting ??= this.#client.connect().then(
      () => undefined,
      (error: unknown) => {
        this.#connecting = undefined;
        throw error;
      },
    );
    await this.#connecting;
  }

  #subscriberConnection(): Promise<RedisClient> {
    this.#subscriber ??= (async () => {
      await this.#connect();
      const subscriber = this.#client.duplicate();
      subscriber.on('error', (error: unknown) => this.#logger.warn('Redis connection error.', { error }));
      await subscriber.connect();
      return subscriber;
    })();
    return this.#subscriber;
  }
}
