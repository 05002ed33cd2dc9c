import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { createClient } from 'redis';
import type { MessageEnvelope } from '../../../src/core/envelope';
import { newId } from '../../../src/core/ids';
import { readDeadLetter } from '../../../src/messaging/dead-letter';
import { KafkaMessageBus } from '../../../src/messaging/kafka';
import type { BrokerMessage, MessageBus, TopicSubscription } from '../../../src/messaging/message-bus';
import { RedisMessageBus } from '../../../src/messaging/redis';
import {
  MemoryCoordinatorLog,
  TWOPC_MESSAGE_TYPES,
  TwoPhaseCoordinator,
  TwoPhaseMessageClient,
  serveTwoPhaseOutcomes,
  serveTwoPhaseParticipant,
  type TwoPhaseReplyBody,
} from '../../../src/twopc';
import { FakeParticipant } from '../../contracts/twopc-log.contract';
import { kafkaBrokers, redisUrl, serviceUnavailable } from '../../support/services';

/** Polls `check` until it holds; fails after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Broker {
  /** A bus for one "process" (each side gets its own connections). */
  bus(): MessageBus;
  /** Topic names unique to this run. */
  topic(name: string): string;
}

/**
 * The same scenarios on each real broker: a coordinator and two participants each on a bus of its
 * own (their own connections, as separate processes would have), talking through the broker.
 */
function describeRemoteParticipants(name: string, broker: () => Broker, timeoutMs: number): void {
  describe(`two-phase participants over ${name}`, () => {
    const subscriptions: TopicSubscription[] = [];
    const closers: (() => Promise<void>)[] = [];

    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
      for (const close of closers.splice(0).reverse()) await close();
    });

    async function world() {
      const b = broker();
      const coordinatorBus = b.bus();
      const northBus = b.bus();
      const southBus = b.bus();
      closers.push(
        () => coordinatorBus.close(),
        () => northBus.close(),
        () => southBus.close(),
      );
      const topics = { north: b.topic('north'), south: b.topic('south'), outcomes: b.topic('outcomes') };
      const client = new TwoPhaseMessageClient({
        bus: coordinatorBus,
        replyTopic: b.topic('replies'),
        outcomeTopic: topics.outcomes,
        timeoutMs: 10_000,
      });
      closers.push(() => client.close());
      const north = new FakeParticipant('north');
      const south = new FakeParticipant('south');
      subscriptions.push(await serveTwoPhaseParticipant(northBus, north, { topic: topics.north }));
      subscriptions.push(await serveTwoPhaseParticipant(southBus, south, { topic: topics.south }));
      await client.start();
      const coordinator = new TwoPhaseCoordinator({
        log: new MemoryCoordinatorLog(),
        participants: [
          client.participant('north', { topic: topics.north }),
          client.participant('south', { topic: topics.south }),
        ],
        prepareTimeoutMs: 10_000,
        retry: { initialDelayMs: 20, maxDelayMs: 200 },
      });
      closers.push(async () => coordinator.close());
      subscriptions.push(
        await serveTwoPhaseOutcomes(coordinatorBus, coordinator, { topic: topics.outcomes }),
      );
      return { b, coordinatorBus, northBus, client, north, south, coordinator, topics };
    }

    it(
      'commits, aborts on a no vote, and answers an in-doubt participant across the broker',
      async () => {
        const { b, north, south, coordinator, topics, northBus } = await world();
        await expect(coordinator.execute({ txId: 'tx-1', payload: { qty: 1 } })).resolves.toMatchObject({
          outcome: 'committed',
        });
        expect(north.states.get('tx-1')).toBe('committed');
        expect(south.states.get('tx-1')).toBe('committed');

        south.vote = 'no';
        const aborted = await coordinator.execute({ txId: 'tx-2' });
        expect(aborted.outcome).toBe('aborted');
        expect(aborted.votes[1]).toMatchObject({ vote: 'no', error: { code: 'POTTER_TWOPC_REMOTE_FAILED' } });
        expect(north.states.get('tx-2')).toBe('rolled-back');

        // A participant process asks the coordinator's outcome service.
        const asker = new TwoPhaseMessageClient({
          bus: northBus,
          replyTopic: b.topic('replies-north'),
          outcomeTopic: topics.outcomes,
          timeoutMs: 10_000,
        });
        closers.push(() => asker.close());
        await expect(asker.outcome('tx-1')).resolves.toBe('commit');
        await expect(asker.outcome('tx-2')).resolves.toBe('abort');
        expect(north.violations).toEqual([]);
        expect(south.violations).toEqual([]);
      },
      timeoutMs,
    );

    it(
      'answers a malformed request with a typed error and dead-letters it on the broker',
      async () => {
        const { b, coordinatorBus, north, coordinator, topics } = await world();
        const replies: BrokerMessage[] = [];
        const dlq: BrokerMessage[] = [];
        const replyTopic = b.topic('spy-replies');
        subscriptions.push(
          await coordinatorBus.subscribe(replyTopic, 'spy-replies', (m) => void replies.push(m)),
        );
        subscriptions.push(
          await coordinatorBus.subscribe(`${topics.north}.dlq`, 'spy-dlq', (m) => void dlq.push(m)),
        );
        const bad: MessageEnvelope = {
          id: newId(),
          type: TWOPC_MESSAGE_TYPES.commit,
          kind: 'command',
          payload: { replyTopic, participant: 'north' },
          metadata: {
            correlationId: newId(),
            timestamp: new Date().toISOString(),
            schemaVersion: 1,
            headers: {},
          },
        };
        await coordinatorBus.publish(topics.north, [bad]);
        await until(() => replies.length === 1 && dlq.length === 1, 'the reply and the dead letter');
        expect(replies[0]!.envelope.payload as TwoPhaseReplyBody).toMatchObject({
          requestId: bad.id,
          ok: false,
          error: { code: 'POTTER_TWOPC_BAD_REQUEST' },
        });
        expect(readDeadLetter(dlq[0]!)).toMatchObject({ error: { code: 'POTTER_TWOPC_BAD_REQUEST' } });
        // Still serving.
        await expect(coordinator.execute({ txId: 'tx-3' })).resolves.toMatchObject({ outcome: 'committed' });
        expect(north.states.get('tx-3')).toBe('committed');
      },
      timeoutMs,
    );
  });
}

// Redis Streams.
const redisPrefix = `potter-test:twopc:${randomUUID()}`;
let redis: ReturnType<typeof createClient> | undefined;
beforeAll(async () => {
  redis = createClient({ url: redisUrl(), socket: { connectTimeout: 5_000, reconnectStrategy: false } });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (error) {
    throw serviceUnavailable('Redis', redisUrl(), error);
  }
});
afterAll(async () => {
  if (!redis?.isOpen) return;
  for await (const keys of redis.scanIterator({ MATCH: `${redisPrefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) await redis.del(keys);
  }
  await redis.close();
});
let redisCount = 0;
describeRemoteParticipants(
  'Redis Streams',
  () => {
    const run = ++redisCount;
    return {
      bus: () => new RedisMessageBus({ url: redisUrl(), blockMs: 200 }),
      topic: (name) => `${redisPrefix}:${run}:${name}`,
    };
  },
  30_000,
);

// Kafka.
const kafkaTopics = new Set<string>();
let admin: Admin | undefined;
beforeAll(async () => {
  const kafka = new Kafka({
    clientId: 'potter-twopc-test',
    brokers: kafkaBrokers(),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2, initialRetryTime: 200 },
  });
  admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (error) {
    throw serviceUnavailable('Kafka', kafkaBrokers().join(','), error);
  }
});
afterAll(async () => {
  if (!admin) return;
  const existing = new Set(await admin.listTopics());
  const doomed = [...kafkaTopics].filter((topic) => existing.has(topic));
  if (doomed.length > 0) await admin.deleteTopics({ topics: doomed }).catch(() => undefined);
  await admin.disconnect();
});
describeRemoteParticipants(
  'Kafka',
  () => {
    const run = randomUUID().slice(0, 8);
    return {
      bus: () => new KafkaMessageBus({ brokers: kafkaBrokers(), partitions: 2 }),
      topic: (name) => {
        const topic = `potter-twopc-${run}-${name}`;
        kafkaTopics.add(topic);
        kafkaTopics.add(`${topic}.dlq`);
        return topic;
      },
    };
  },
  90_000,
);
