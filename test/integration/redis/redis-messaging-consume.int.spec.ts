import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import type { MessageEnvelope } from '../../../src/core/envelope';
import { newId } from '../../../src/core/ids';
import type { BrokerMessage } from '../../../src/messaging/message-bus';
import { RedisMessageBus, type RedisMessageBusOptions } from '../../../src/messaging/redis';
import { redisUrl, serviceUnavailable } from '../../support/services';

// The consume path of RedisMessageBus with handlers that return synchronously, asynchronously, or
// both: order, acknowledgements and the bound on entries held by a subscription.

const url = redisUrl();
const prefix = `potter-test:consume:${randomUUID()}`;
let client: ReturnType<typeof createClient>;
const buses: RedisMessageBus[] = [];

beforeAll(async () => {
  client = createClient({ url, socket: { connectTimeout: 5_000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw serviceUnavailable('Redis', url, error);
  }
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

afterAll(async () => {
  if (!client?.isOpen) return;
  for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
    if (keys.length > 0) await client.del(keys);
  }
  await client.close();
});

let topicCount = 0;
const newTopic = (): string => `${prefix}:t${++topicCount}`;

function newBus(options: RedisMessageBusOptions = {}): RedisMessageBus {
  const bus = new RedisMessageBus({ url, blockMs: 500, ...options });
  buses.push(bus);
  return bus;
}

function envelope(n: number): MessageEnvelope {
  return {
    id: newId(),
    type: 'TestEvent',
    kind: 'event',
    payload: { n },
    metadata: { correlationId: newId(), timestamp: new Date().toISOString(), schemaVersion: 1, headers: {} },
  };
}

async function eventually(check: () => void | Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const pendingCount = async (stream: string, group: string): Promise<number> =>
  (await client.xPending(stream, group)).pending;
const nOf = (message: BrokerMessage): number => (message.envelope.payload as { n: number }).n;
const range = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

describe('RedisMessageBus consume path', () => {
  it('holds at most 1.5 × batchSize unfinished entries while an asynchronous handler is slow', async () => {
    const bus = newBus({ batchSize: 10 });
    const topic = newTopic();
    await bus.publish(topic, range(100).map(envelope));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handled: number[] = [];
    await bus.subscribe(topic, 'g', async (message) => {
      if (nOf(message) === 0) await gate;
      handled.push(nOf(message));
    });
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBeGreaterThanOrEqual(10));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Read 10, and again once at most 5 were unfinished: never more than 15 delivered and unacknowledged.
    expect(await pendingCount(topic, 'g')).toBeLessThanOrEqual(15);
    expect(handled).toEqual([]);
    release();
    await eventually(() => expect(handled).toHaveLength(100));
    expect(handled).toEqual(range(100));
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
  });

  it('keeps publish order across handlers that return synchronously or asynchronously (concurrency 1)', async () => {
    const bus = newBus({ batchSize: 16 });
    const topic = newTopic();
    const handled: number[] = [];
    await bus.subscribe(topic, 'g', (message) => {
      const n = nOf(message);
      if (n % 3 === 0) {
        return new Promise<void>((resolve) =>
          setTimeout(() => {
            handled.push(n);
            resolve();
          }, 1),
        );
      }
      handled.push(n);
    });
    for (let first = 0; first < 200; first += 25) {
      await bus.publish(
        topic,
        range(25).map((i) => envelope(first + i)),
      );
    }
    await eventually(() => expect(handled).toHaveLength(200));
    expect(handled).toEqual(range(200));
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
  });

  it('keeps per-key order with mixed handlers and concurrency > 1, acknowledging every entry once', async () => {
    const bus = newBus({ batchSize: 20 });
    const topic = newTopic();
    const seen = new Map<string, number[]>();
    let handledCount = 0;
    await bus.subscribe(
      topic,
      'g',
      (message) => {
        const record = (): void => {
          const list = seen.get(message.key!) ?? [];
          list.push(nOf(message));
          seen.set(message.key!, list);
          handledCount++;
        };
        if (nOf(message) % 2 === 0) {
          return new Promise<void>((resolve) =>
            setTimeout(() => {
              record();
              resolve();
            }, 2),
          );
        }
        record();
      },
      { concurrency: 4 },
    );
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (let round = 0; round < 10; round++) {
      await Promise.all(keys.map((key, k) => bus.publish(topic, [envelope(round * 7 + k)], { key })));
    }
    await eventually(() => expect(handledCount).toBe(60));
    for (const [k, key] of keys.entries()) {
      expect(seen.get(key)).toEqual(range(10).map((round) => round * 7 + k)); // odd and even: both kinds
    }
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(handledCount).toBe(60);
  });
});
