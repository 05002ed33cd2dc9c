/**
 * `potter/redis` — Potter on Redis through node-redis (the `redis` package v5, an optional peer
 * dependency: `npm i redis`), loaded only when a client is created.
 */
export * from './messaging/redis';
export { RedisInbox, type RedisInboxOptions } from './messaging/redis/redis-inbox';
