import { ConfigurationError } from '../../core/errors';
import type { Inbox, InboxOnceResult } from '../inbox';
import { loadRedis, type RedisClient, type RedisClientOptions } from './redis-driver';

/** Options of {@link RedisInbox}. */
export interface RedisInboxOptions {
  /** A client of yours (connected or not): used as is and not closed by `close()`. */
  client?: RedisClient;
  /** Where to connect when no `client` is given. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** More options of the client created when no `client` is given. */
  clientOptions?: RedisClientOptions;
  /** Prefix of the keys (`<prefix>:<consumer>:<messageId>`). @default 'potter:inbox' */
  keyPrefix?: string;
  /** How long a processed id is remembered, in ms (a redelivery after that is not recognized). @default 7 days */
  ttlMs?: number;
  /**
   * How long a `once` call in progress holds its id, in ms: concurrent calls with the same id wait
   * for it; if its process dies, another may run after this long. @default 60000
   */
  processingTimeoutMs?: number;
}

const DONE = 'done';
const PROCESSING = 'processing';
const POLL_MS = 20;

/**
 * An inbox in Redis: one key per processed message (`SET key done NX PX ttl`), forgotten after
 * `ttlMs`. `once` first claims the id (`SET key processing NX PX processingTimeoutMs`), runs the
 * handler, then marks it done (or deletes the claim when the handler throws). Redis cannot join a
 * database transaction: `tx` options are rejected. The `redis` package (v5) is an optional peer
 * dependency, loaded when the inbox creates its own client.
 */
export class RedisInbox implements Inbox<undefined> {
  readonly #ownClient: boolean;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #processingMs: number;
  #client: RedisClient;
  #connecting: Promise<unknown> | undefined;

  constructor(options: RedisInboxOptions = {}) {
    this.#prefix = options.keyPrefix ?? 'potter:inbox';
    this.#ttlMs = positive('ttlMs', options.ttlMs ?? 7 * 24 * 3_600_000);
    this.#processingMs = positive('processingTimeoutMs', options.processingTimeoutMs ?? 60_000);
    if (options.client) {
      this.#client = options.client;
      this.#ownClient = false;
    } else {
      this.#client = loadRedis().createClient({
        ...options.clientOptions,
        url: options.url ?? options.clientOptions?.url ?? 'redis://127.0.0.1:6379',
      });
      this.#client.on('error', () => undefined); // commands reject with the error
      this.#ownClient = true;
    }
  }

  async seen(consumer: string, messageId: string, tx?: undefined): Promise<boolean> {
    rejectTx(tx);
    const client = await this.#ready();
    const set = await client.set(this.#key(consumer, messageId), DONE, {
      condition: 'NX',
      expiration: { type: 'PX', value: this.#ttlMs },
    });
    return set === null;
  }

  async once<T>(
    consumer: string,
    messageId: string,
    fn: (tx: undefined) => Promise<T> | T,
    options: { tx?: undefined } = {},
  ): Promise<InboxOnceResult<T>> {
    rejectTx(options.tx);
    const client = await this.#ready();
    const key = this.#key(consumer, messageId);
    for (;;) {
      const claimed = await client.set(key, PROCESSING, {
        condition: 'NX',
        expiration: { type: 'PX', value: this.#processingMs },
      });
      if (claimed !== null) break;
      // Someone has it: done → skip; processing → wait until it is done, released or expired.
      const state = await client.get(key);
      if (state === DONE) return { processed: false };
      if (state === PROCESSING) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    let result: T;
    try {
      result = await fn(undefined);
    } catch (error) {
      await client.del(key).catch(() => undefined);
      throw error;
    }
    await client.set(key, DONE, { expiration: { type: 'PX', value: this.#ttlMs } });
    return { processed: true, result };
  }

  /** Closes the client the inbox created (a client you passed stays open). */
  async close(): Promise<void> {
    if (this.#ownClient && this.#client.isOpen) await this.#client.close();
  }

  #key(consumer: string, messageId: string): string {
    return `${this.#prefix}:${consumer}:${messageId}`;
  }

  async #ready(): Promise<RedisClient> {
    if (!this.#client.isOpen) {
      this.#connecting ??= this.#client.connect().finally(() => (this.#connecting = undefined));
      await this.#connecting;
    }
    return this.#client;
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`RedisInbox ${name} must be a positive number of ms`, { [name]: value });
  }
  return Math.ceil(value);
}

function rejectTx(tx: unknown): void {
  if (tx !== undefined) {
    throw new ConfigurationError('RedisInbox cannot join a transaction: call it without `tx`.');
  }
}
