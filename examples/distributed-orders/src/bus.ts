import type { MessageBus } from 'potter';
import { KafkaMessageBus } from 'potter/kafka';
import { RedisMessageBus } from 'potter/redis';

/** The broker both services use: Kafka (default) or Redis Streams with `--redis` / POTTER_BUS=redis. */
export function createBus(): { bus: MessageBus; description: string } {
  const useRedis = process.argv.includes('--redis') || process.env.POTTER_BUS === 'redis';
  if (useRedis) {
    const url = process.env.POTTER_REDIS_URL || 'redis://127.0.0.1:6379';
    return { bus: new RedisMessageBus({ url, partitions: 4 }), description: `Redis Streams at ${url}` };
  }
  const brokers = (process.env.POTTER_KAFKA_BROKERS || '127.0.0.1:9092').split(',');
  return {
    bus: new KafkaMessageBus({ brokers, clientId: 'distributed-orders', partitions: 4 }),
    description: `Kafka at ${brokers.join(',')}`,
  };
}

/** Topics are per run (POTTER_RUN_ID) so repeated runs against one broker do not see each other. */
export function topicFor(type: string): string {
  const run = process.env.POTTER_RUN_ID || 'demo';
  return `distributed-orders.${run}.${type}`;
}
