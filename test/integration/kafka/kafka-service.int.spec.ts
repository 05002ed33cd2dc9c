import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { isLoopbackHost, kafkaBrokers, serviceUnavailable } from '../../support/services';

// Smoke test of the Kafka broker that scripts/services/up provides (or POTTER_KAFKA_BROKERS names).
describe('Kafka test service', () => {
  const brokers = kafkaBrokers();
  const kafka = new Kafka({
    clientId: 'potter-kafka-service-test',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2, initialRetryTime: 200 },
  });
  let admin: Admin;
  const topics: string[] = [];

  beforeAll(async () => {
    admin = kafka.admin();
    try {
      await admin.connect();
      await admin.describeCluster();
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      throw serviceUnavailable('Kafka', brokers.join(','), error);
    }
  });

  afterAll(async () => {
    if (topics.length > 0) await admin?.deleteTopics({ topics }).catch(() => undefined);
    await admin?.disconnect();
  });

  it('answers metadata requests with at least one broker and a controller', async () => {
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.length).toBeGreaterThanOrEqual(1);
    expect(cluster.controller).not.toBeNull();
    if (brokers.every((broker) => isLoopbackHost(broker.slice(0, broker.lastIndexOf(':'))))) {
      for (const broker of cluster.brokers) expect(isLoopbackHost(broker.host)).toBe(true);
    }
  });

  it('creates a topic with 3 partitions, then produces and consumes a message through a group', async () => {
    const topic = `potter-smoke-${randomUUID()}`;
    topics.push(topic);
    await expect(
      admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true }),
    ).resolves.toBe(true);
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(metadata!.partitions).toHaveLength(3);

    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    const consumer = kafka.consumer({ groupId: `potter-smoke-${randomUUID()}` });
    try {
      await producer.connect();
      const body = `hello ${randomUUID()}`;
      const [sent] = await producer.send({ topic, acks: -1, messages: [{ key: 'k1', value: body }] });
      expect(sent!.errorCode).toBe(0);

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<{ key: string; value: string; partition: number }>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message, partition }) => {
            resolve({ key: String(message.key), value: String(message.value), partition });
          },
        });
      });
      const got = await received;
      expect(got).toEqual({ key: 'k1', value: body, partition: sent!.partition });
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  }, 30_000);
});
