import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type KafkaMessage } from 'kafkajs';
import { readDeadLetter, type BrokerMessage, type DeadLetter } from 'potter';
import { KafkaMessageBus } from '../../../src/messaging/kafka';
import { envelope, eventually } from '../../contracts/message-bus.contract';
import { kafkaBrokers, serviceUnavailable } from '../../support/services';

// What a KafkaMessageBus writes in the record headers on the wire (read back with a plain kafkajs
// consumer), and what its handlers and dead letters see (decision 21 in docs/decisions.md).

const brokers = kafkaBrokers();
const ROUTING_HEADERS = ['potter-id', 'potter-type', 'potter-schema-version', 'potter-kind'];

function client(clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2, initialRetryTime: 200 },
  });
}

/** The record headers as strings (Kafka gives Buffers). */
function headerStrings(message: KafkaMessage): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) result[name] = last.toString();
  }
  return result;
}

describe('KafkaMessageBus headers on the wire', () => {
  const kafka = client('potter-kafka-headers-test');
  const topics = new Set<string>();
  let admin: Admin;
  const buses: KafkaMessageBus[] = [];
  const topicName = (tag: string): string => {
    const topic = `potter-kafka-headers-${tag}-${randomUUID().slice(0, 8)}`;
    topics.add(topic);
    topics.add(`${topic}.dlq`);
    return topic;
  };
  const newBus = (options: { routingHeaders?: boolean } = {}): KafkaMessageBus => {
    const bus = new KafkaMessageBus({ brokers, partitions: 1, ...options });
    buses.push(bus);
    return bus;
  };

  /** The first `count` records of `topic`, read by a plain kafkajs consumer of a fresh group. */
  async function rawRecords(topic: string, count: number): Promise<KafkaMessage[]> {
    const consumer = kafka.consumer({ groupId: `raw-${randomUUID()}`, maxWaitTimeInMs: 100 });
    const records: KafkaMessage[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          records.push(message);
        },
      });
      await eventually(`${count} raw records of ${topic}`, () => records.length >= count, 30_000);
    } finally {
      await consumer.disconnect();
    }
    return records.slice(0, count);
  }

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
    await Promise.all(buses.map((bus) => bus.close()));
    if (admin) {
      const existing = new Set(await admin.listTopics());
      const doomed = [...topics].filter((topic) => existing.has(topic));
      if (doomed.length > 0) await admin.deleteTopics({ topics: doomed }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('writes only content-type, traceparent and the publish call headers by default', async () => {
    const bus = newBus();
    const topic = topicName('minimal');
    const traced = envelope(1);
    const untraced = envelope(2);
    delete untraced.metadata.traceparent;
    await bus.publish(topic, [traced], { key: 'k', headers: { 'x-extra': 'yes' } });
    await bus.publish(topic, [untraced], { key: 'k' });
    const [first, second] = await rawRecords(topic, 2);
    expect(headerStrings(first!)).toEqual({
      'content-type': 'application/json',
      traceparent: traced.metadata.traceparent,
      'x-extra': 'yes',
    });
    expect(headerStrings(second!)).toEqual({ 'content-type': 'application/json' });
    // The body carries the whole envelope, its own headers included.
    expect(JSON.parse(first!.value!.toString('utf8'))).toEqual(traced);
  }, 60_000);

  it('also writes the routing headers and the envelope headers with routingHeaders: true', async () => {
    const bus = newBus({ routingHeaders: true });
    const topic = topicName('routing');
    const sent = envelope(3);
    await bus.publish(topic, [sent], { key: 'k', headers: { 'x-extra': 'yes' } });
    const [record] = await rawRecords(topic, 1);
    expect(headerStrings(record!)).toEqual({
      'potter-id': sent.id,
      'potter-type': 'ContractTested',
      'potter-schema-version': '2',
      'potter-kind': 'event',
      'content-type': 'application/json',
      traceparent: sent.metadata.traceparent,
      'x-user': 'user-3',
      'x-extra': 'yes',
    });
  }, 60_000);

  it('gives handlers the routing headers, derived from the envelope, whichever way it was published', async () => {
    const reader = newBus();
    const topic = topicName('handler');
    const received: BrokerMessage[] = [];
    const subscription = await reader.subscribe(topic, 'g', (message) => {
      received.push(message);
    });
    const minimal = envelope(4);
    const routed = envelope(5);
    await reader.publish(topic, [minimal], { key: 'k', headers: { 'x-extra': 'a' } });
    await newBus({ routingHeaders: true }).publish(topic, [routed], {
      key: 'k',
      headers: { 'x-extra': 'b' },
    });
    await eventually('both messages', () => received.length === 2);
    await subscription.stop();
    const expected = (sent: typeof minimal, extra: string): Record<string, string> => ({
      'potter-id': sent.id,
      'potter-type': 'ContractTested',
      'potter-schema-version': '2',
      'potter-kind': 'event',
      'content-type': 'application/json',
      traceparent: sent.metadata.traceparent!,
      'x-user': sent.metadata.headers['x-user']!,
      'x-extra': extra,
    });
    expect(received[0]!.envelope).toEqual(minimal);
    expect(received[0]!.headers).toEqual(expected(minimal, 'a'));
    expect(received[1]!.envelope).toEqual(routed);
    expect(received[1]!.headers).toEqual(expected(routed, 'b'));
  }, 60_000);

  it('keeps the routing headers in dead letters, while the dead-letter record stays minimal on the wire', async () => {
    const bus = newBus();
    const topic = topicName('dlq');
    const letters: DeadLetter[] = [];
    const letterReader = await bus.subscribe(`${topic}.dlq`, 'dlq-reader', (message) => {
      letters.push(readDeadLetter(message));
    });
    const worker = await bus.subscribe(
      topic,
      'workers',
      () => {
        throw new Error('always failing');
      },
      { retry: { maxAttempts: 2, initialDelayMs: 5, jitter: 'none' } },
    );
    const poisoned = envelope(6);
    await bus.publish(topic, [poisoned], { key: 'k', headers: { 'x-origin': 'test' } });
    await eventually('the dead letter', () => letters.length === 1);
    await Promise.all([worker.stop(), letterReader.stop()]);
    const [letter] = letters;
    expect(letter!.envelope).toEqual(poisoned);
    expect(letter!.attempts).toBe(2);
    expect(letter!.headers).toEqual({
      'potter-id': poisoned.id,
      'potter-type': 'ContractTested',
      'potter-schema-version': '2',
      'potter-kind': 'event',
      'content-type': 'application/json',
      traceparent: poisoned.metadata.traceparent,
      'x-user': 'user-6',
      'x-origin': 'test',
    });
    const [record] = await rawRecords(`${topic}.dlq`, 1);
    const wire = headerStrings(record!);
    for (const name of ROUTING_HEADERS) expect(wire).not.toHaveProperty(name);
    expect(wire).toEqual({
      'content-type': 'application/json',
      traceparent: poisoned.metadata.traceparent,
      'potter-dlq-topic': topic,
      'potter-dlq-group': 'workers',
      'potter-dlq-error-code': 'Error',
    });
  }, 60_000);
});
