import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from 'kafkajs';
import type { MessageBus } from '../../../src/messaging/message-bus';
import { KafkaMessageBus } from '../../../src/messaging/kafka';
import { describeMessageBusContract, envelope, eventually } from '../../contracts/message-bus.contract';
import { kafkaBrokers, serviceUnavailable } from '../../support/services';

const brokers = kafkaBrokers();

function client(clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2, initialRetryTime: 200 },
  });
}

async function connectedAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw serviceUnavailable('Kafka', brokers.join(','), error);
  }
  return admin;
}

/** A bus that remembers the topics it touched (and their dead-letter topics), to delete them afterwards. */
function tracking(bus: KafkaMessageBus, topics: Set<string>): MessageBus {
  const touch = (topic: string): void => {
    topics.add(topic);
    topics.add(`${topic}.dlq`);
  };
  return {
    publish: (topic, envelopes, options) => {
      touch(topic);
      return bus.publish(topic, envelopes, options);
    },
    subscribe: (topic, group, handler, options) => {
      touch(topic);
      return bus.subscribe(topic, group, handler, options);
    },
    close: () => bus.close(),
  };
}

async function deleteTopics(admin: Admin, topics: Set<string>): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const doomed = [...topics].filter((topic) => existing.has(topic));
  if (doomed.length > 0) await admin.deleteTopics({ topics: doomed }).catch(() => undefined);
}

// The MessageBus contract on the Kafka broker that scripts/services/up provides.
describeMessageBusContract('Kafka', async () => {
  const kafka = client('potter-kafka-contract');
  const admin = await connectedAdmin(kafka);
  const raw: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await raw.connect();
  const topics = new Set<string>();
  const bus = new KafkaMessageBus({ brokers, clientId: 'potter-contract', partitions: 4 });
  return {
    bus: tracking(bus, topics),
    async publishRaw(topic, bytes, key) {
      await raw.send({ topic, acks: -1, messages: [{ key: key ?? null, value: bytes }] });
    },
    async cleanup() {
      await bus.close();
      await raw.disconnect();
      await deleteTopics(admin, topics);
      await admin.disconnect();
    },
  };
});

describe('KafkaMessageBus specifics', () => {
  const topics = new Set<string>();
  let admin: Admin;
  let kafkaBus: KafkaMessageBus;
  let bus: MessageBus;
  const topicName = (tag: string): string => `potter-kafka-bus-${tag}-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    admin = await connectedAdmin(client('potter-kafka-bus-test'));
    kafkaBus = new KafkaMessageBus({ brokers, partitions: 3 });
    bus = tracking(kafkaBus, topics);
  });

  afterAll(async () => {
    await kafkaBus?.close();
    if (admin) {
      await deleteTopics(admin, topics);
      await admin.disconnect();
    }
  });

  it('creates the topic with the configured partition count', async () => {
    const topic = topicName('partitions');
    await bus.publish(topic, [envelope(1)], { key: 'k' });
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(metadata!.partitions).toHaveLength(3);
  }, 30_000);

  it('starts a new group at the end when fromBeginning is false, and gets everything published after subscribe', async () => {
    const topic = topicName('latest');
    await bus.publish(topic, [envelope(1), envelope(2)], { key: 'k' });
    const handled: number[] = [];
    const subscription = await bus.subscribe(
      topic,
      'latest-group',
      (message) => {
        handled.push((message.envelope.payload as { n: number }).n);
      },
      { fromBeginning: false },
    );
    await bus.publish(topic, [envelope(3)], { key: 'k' });
    await bus.publish(topic, [envelope(4)], { key: 'other' });
    await eventually('the new messages', () => handled.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(handled.sort()).toEqual([3, 4]);
    await subscription.stop();
  }, 30_000);

  it('keeps the group session of a handler slower than the session timeout (no eviction, no redelivery)', async () => {
    const slowBus = new KafkaMessageBus({ brokers, partitions: 1, sessionTimeoutMs: 6_000 });
    try {
      const tracked = tracking(slowBus, topics);
      const topic = topicName('slow');
      const handled: number[] = [];
      await tracked.subscribe(topic, 'g', async (message) => {
        const { n } = message.envelope.payload as { n: number };
        if (n === 1) await new Promise((resolve) => setTimeout(resolve, 8_000));
        handled.push(n);
      });
      await tracked.publish(topic, [envelope(1), envelope(2)], { key: 'k' });
      await eventually('both messages', () => handled.length >= 2, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(handled).toEqual([1, 2]);
    } finally {
      await slowBus.close();
    }
  }, 45_000);

  it('leaves a message whose retry is cut short by stop() uncommitted: the group gets it again', async () => {
    const topic = topicName('stop-retry');
    const attempts: string[] = [];
    const first = await bus.subscribe(
      topic,
      'g',
      () => {
        attempts.push('first');
        throw new Error('failing until stopped');
      },
      { retry: { maxAttempts: 5, initialDelayMs: 10_000, jitter: 'none' } },
    );
    await bus.publish(topic, [envelope(1)], { key: 'k' });
    await eventually('the first attempt', () => attempts.length === 1);
    const stopping = Date.now();
    await first.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000); // the backoff wait was abandoned
    const second: number[] = [];
    const again = await bus.subscribe(topic, 'g', (message) => {
      second.push(message.attempt);
    });
    await eventually('the redelivery', () => second.length === 1);
    expect(second).toEqual([1]);
    await again.stop();
  }, 30_000);
});
