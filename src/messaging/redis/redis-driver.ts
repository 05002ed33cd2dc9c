import type * as Redis from 'redis';
import { MissingDependencyError } from '../../core/errors';

/** A node-redis client (`createClient()` of the `redis` package, v5). */
export type RedisClient = ReturnType<typeof Redis.createClient>;

/** Options of the clients Potter creates (those of `createClient()`). */
export type RedisClientOptions = Parameters<typeof Redis.createClient>[0];

/** What Potter sends to Redis: strings and binary-safe buffers. @internal */
export type RedisArg = string | Buffer;

/** A raw RESP2 reply read with buffers for bulk strings. @internal */
export type RawReply = Buffer | string | number | null | RawReply[];

/**
 * Loads the `redis` driver on first use, so `potter/redis` can be imported without it.
 * @internal
 */
export function loadRedis(): typeof Redis {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded lazily
    return require('redis') as typeof Redis;
  } catch (cause) {
    if ((cause as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
      throw new MissingDependencyError('redis', 'The Redis adapter (potter/redis)', { cause });
    }
    throw cause;
  }
}

/** Command options that make node-redis return bulk strings as Buffers (binary-safe). @internal */
export function bufferReplies(redis: typeof Redis): { typeMapping: Record<number, BufferConstructor> } {
  return { typeMapping: { [redis.RESP_TYPES.BLOB_STRING]: Buffer } };
}

/** A Redis error reply's text (`NOGROUP …`, `BUSYGROUP …`). @internal */
export function redisErrorText(error: unknown): string {
  return typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string'
    ? (error as { message: string }).message
    : String(error);
}
