export { RedisMessageBus, partitionOfKey, type RedisMessageBusOptions } from './redis-message-bus';
export {
  RedisBroadcast,
  type RedisBroadcastOptions,
  type BroadcastHandler,
  type BroadcastSubscription,
} from './redis-broadcast';
export type { RedisClient, RedisClientOptions } from './redis-driver';
