import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { BrokerMessage } from 'potter';
import { KafkaMessageBus } from 'potter/kafka';
import { kafkaBrokers, serviceUnavailable } from '../../support/services';
import {
  PrivateKafka,
  freePort,
  nOf,
  numbered,
  until,
  useProcessWorkers,
  type ProcessWorker,
} from '../support/messaging-fault';

/**
 * Kafka fault tests with real processes:
 * - a consumer SIGKILLed while its handlers hold messages (no offset committed) → once the group
 *   coordinator expires its session, another consumer of the group gets its partitions and handles
 *   every message, those the dead one held included (on the shared test broker);
 * - the broker restarted (controlled shutdown, then a crash) while a producer process publishes →
 *   every message acknowledged to the producer is consumed afterwards, by a fresh group and by a
 *   consumer that stayed subscribed (on a private broker, so that no other test sees the restarts).
 */

const SESSION_TIMEOUT_MS = 6000; // the broker's group.min.session.timeout.ms

describe('Kafka consumer killed before it acknowledges', () => {
  const workers = useProcessWorkers();
  const brokers = kafkaBrokers();

  beforeAll(async () => {
    const admin = new Kafka({
      brokers,
      clientId: 'potter-fault-check',
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3000,
      retry: { retries: 1 },
    }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
    } catch (error) {
      throw serviceUnavailable('Kafka', brokers.join(','), error);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  });

  it('another consumer of the group receives every message, those the dead one held included', async () => {
    const topic = `potter-fault-kafka-kill-${randomUUID()}`;
    const group = `fault-group-${randomUUID()}`;
    const TOTAL = 30;
    const LATER = 10;
    const options = {
      brokers,
      partitions: 3,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: 300,
    };
    const publisher = new KafkaMessageBus(options);
    const survivorBus = new KafkaMessageBus(options);
    try {
      for (let n = 0; n < TOTAL; n++) await publisher.publish(topic, [numbered(n)], { key: `k-${n}` });

      const doomed = workers.start(
        'messaging-consumer-worker.js',
        {
          FAULT_BUS: 'kafka',
          POTTER_KAFKA_BROKERS: brokers.join(','),
          FAULT_TOPIC: topic,
          FAULT_GROUP: group,
          FAULT_CONCURRENCY: '3',
          FAULT_PARTITIONS: '3',
          FAULT_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
        },
        'doomed consumer',
      );
      // One message per partition in its (never-ending) handlers: 3 partitions, concurrency 3.
      await doomed.until(() => doomed.of('holding').length >= 3, 'a message held on each partition', 30_000);
      const heldByDoomed = doomed.of('holding').map((line) => Number(line.n));
      const killedAt = Date.now();
      await doomed.kill();

      const received: BrokerMessage[] = [];
      const subscription = await survivorBus.subscribe(
        topic,
        group,
        (message) => void received.push({ ...message }),
        { concurrency: 3 },
      );
      const handled = (): Set<number> => new Set(received.map(nOf));
      await until(
        () => handled().size >= TOTAL,
        `all ${TOTAL} messages`,
        30_000,
        () => JSON.stringify([...handled()].sort((a, b) => a - b)),
      );
      const takeoverMs = Date.now() - killedAt;
      expect([...handled()].sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, n) => n));
      for (const n of heldByDoomed) expect(handled().has(n)).toBe(true);

      // The group carries on with new messages; every offset ends up committed.
      for (let n = TOTAL; n < TOTAL + LATER; n++)
        await publisher.publish(topic, [numbered(n)], { key: `k-${n}` });
      await until(() => handled().size >= TOTAL + LATER, 'the later messages', 20_000);
      await subscription.stop();
      const admin = new Kafka({
        brokers,
        clientId: 'potter-fault-check',
        logLevel: logLevel.NOTHING,
      }).admin();
      await admin.connect();
      try {
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        const ends = await admin.fetchTopicOffsets(topic);
        const committedSum = committed!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
        expect(committedSum).toBe(ends.reduce((sum, p) => sum + Number(p.high), 0));
        await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
      } finally {
        await admin.disconnect();
      }
      if (process.env.FAULT_VERBOSE) {
        console.log(
          `kafka-kill: dead consumer held [${heldByDoomed.join(', ')}]; all ${TOTAL} handled ${takeoverMs} ms after the kill (session timeout ${SESSION_TIMEOUT_MS} ms)`,
        );
      }
    } finally {
      await survivorBus.close();
      await publisher.close();
    }
  }, 60_000);
});

describe('Kafka restarted while a producer publishes', () => {
  const workers = useProcessWorkers();
  const COUNT = 600;
  let kafka: PrivateKafka | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await kafka?.stop('SIGKILL');
    kafka = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('every message acknowledged to the producer is eventually consumed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'potter-fault-kafka-'));
    kafka = new PrivateKafka(dir, await freePort(), await freePort());
    const broker = kafka;
    await broker.start();
    const topic = `fault-restart-${randomUUID()}`;
    const options = {
      brokers: broker.brokers,
      partitions: 3,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: 300,
    };

    const liveBus = new KafkaMessageBus(options);
    const live = new Set<number>();
    let freshBus: KafkaMessageBus | undefined;
    try {
      await liveBus.subscribe(topic, 'live', (message) => void live.add(nOf(message)), { concurrency: 3 });

      const producer: ProcessWorker = workers.start(
        'messaging-producer-worker.js',
        {
          FAULT_BUS: 'kafka',
          POTTER_KAFKA_BROKERS: broker.brokers.join(','),
          FAULT_TOPIC: topic,
          FAULT_COUNT: String(COUNT),
          FAULT_PARTITIONS: '3',
          FAULT_PUBLISH_TIMEOUT_MS: '20000',
        },
        'producer',
      );
      const acked = (): number[] => producer.of('acked').map((line) => Number(line.n));

      await producer.until(() => acked().length >= 150, '150 acknowledged publishes', 30_000);
      await broker.stop('SIGTERM'); // controlled shutdown
      const firstDownAt = acked().length;
      await broker.start();

      await producer.until(
        () => acked().length >= firstDownAt + 150,
        '150 more acknowledged publishes',
        30_000,
      );
      await broker.stop('SIGKILL'); // a crash
      const secondDownAt = acked().length;
      await broker.start();

      await producer.until(() => producer.of('done').length > 0, 'the producer to finish', 40_000);
      // Both restarts hit the producer mid-way.
      expect(secondDownAt).toBeLessThan(COUNT);
      const ackedSet = new Set(acked());
      expect(ackedSet.size).toBe(COUNT);

      const missing = (seen: Set<number>): number[] => [...ackedSet].filter((n) => !seen.has(n));
      freshBus = new KafkaMessageBus(options);
      const fresh = new Set<number>();
      await freshBus.subscribe(topic, `fresh-${randomUUID()}`, (message) => void fresh.add(nOf(message)), {
        fromBeginning: true,
        concurrency: 3,
      });
      await until(
        () => missing(fresh).length === 0,
        'every acknowledged message (fresh group)',
        20_000,
        () => `missing ${missing(fresh).length}: ${missing(fresh).slice(0, 20).join(', ')}`,
      );
      await until(
        () => missing(live).length === 0,
        'every acknowledged message (live consumer)',
        20_000,
        () => `missing ${missing(live).length}: ${missing(live).slice(0, 20).join(', ')}`,
      );
      if (process.env.FAULT_VERBOSE) {
        console.log(
          `kafka-restart: ${COUNT} acknowledged; restarts after ${firstDownAt} and ${secondDownAt}; ` +
            `${producer.of('failed').length} failed publishes retried (${[...new Set(producer.of('failed').map((line) => String(line.message)))].join(' | ')}); fresh group saw ${fresh.size}, live consumer ${live.size}`,
        );
      }
    } finally {
      await freshBus?.close();
      await liveBus.close();
    }
  }, 80_000);
});
