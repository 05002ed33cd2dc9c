import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import type { MessageEnvelope } from '../../../src/core/envelope';
import { newId } from '../../../src/core/ids';
import { jsonCodec } from '../../../src/messaging/codecs';
import { DEAD_LETTER_TYPE, readDeadLetter } from '../../../src/messaging/dead-letter';
import type { BrokerMessage, MessageBus, TopicSubscription } from '../../../src/messaging/message-bus';
import { RedisBroadcast, RedisMessageBus, type RedisMessageBusOptions } from '../../../src/messaging/redis';
import { redisUrl, serviceUnavailable } from '../../support/services';
import { describeMessageBusContract } from '../../contracts/message-bus.contract';

const url = redisUrl();
const prefix = `potter-test:bus:${randomUUID()}`;
let client: ReturnType<typeof createClient>;
const buses: Array<{ close(): Promise<void> }> = [];

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
function newTopic(): string {
  return `${prefix}:t${++topicCount}`;
}

function newBus(options: RedisMessageBusOptions = {}): RedisMessageBus {
  const bus = new RedisMessageBus({ url, blockMs: 500, ...options });
  buses.push(bus);
  return bus;
}

function envelope(n: number, payload: Record<string, unknown> = {}): MessageEnvelope {
  return {
    id: newId(),
    type: 'TestEvent',
    kind: 'event',
    payload: { n, ...payload },
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

async function pendingCount(stream: string, group: string): Promise<number> {
  return (await client.xPending(stream, group)).pending;
}

const nOf = (message: BrokerMessage): number => (message.envelope.payload as { n: number }).n;

describe('RedisMessageBus (Redis Streams)', () => {
  it('round-trips envelopes with key, headers, attempt and entry id, and acknowledges them', async () => {
    const bus = newBus();
    const topic = newTopic();
    const received: BrokerMessage[] = [];
    await bus.subscribe(topic, 'g', (message) => {
      received.push(message);
    });
    const sent = [envelope(1), envelope(2), envelope(3)];
    await bus.publish(topic, sent, { key: 'order-1', headers: { tenant: 'acme' } });
    await eventually(() => expect(received).toHaveLength(3));
    expect(received.map((message) => message.envelope)).toEqual(sent);
    expect(received[0]).toMatchObject({
      topic,
      key: 'order-1',
      attempt: 1,
      headers: { tenant: 'acme', 'potter-type': 'TestEvent', 'content-type': 'application/json' },
    });
    expect(received[0]!.brokerId).toMatch(/^\d+-\d+$/);
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
  });

  it('keeps per-key order with concurrency > 1 while different keys run concurrently', async () => {
    const bus = newBus({ batchSize: 50 });
    const topic = newTopic();
    const seen = new Map<string, number[]>();
    let running = 0;
    let maxRunning = 0;
    await bus.subscribe(
      topic,
      'g',
      async (message) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        seen.set(message.key!, [...(seen.get(message.key!) ?? []), nOf(message)]);
        running--;
      },
      { concurrency: 4 },
    );
    const keys = ['a', 'b', 'c', 'd', 'e'];
    for (let round = 0; round < 20; round++) {
      await Promise.all(keys.map((key) => bus.publish(topic, [envelope(round)], { key })));
    }
    await eventually(() => expect([...seen.values()].flat()).toHaveLength(100));
    for (const key of keys) expect(seen.get(key)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(maxRunning).toBeGreaterThan(1);
    expect(maxRunning).toBeLessThanOrEqual(4);
  });

  it('shards a topic into partition streams by key hash, keeping per-key order', async () => {
    const bus = newBus({ partitions: 4 });
    const topic = newTopic();
    const seen = new Map<string, number[]>();
    await bus.subscribe(
      topic,
      'g',
      (message) => {
        seen.set(message.key!, [...(seen.get(message.key!) ?? []), nOf(message)]);
      },
      { concurrency: 3 },
    );
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    for (let round = 0; round < 10; round++) {
      await Promise.all(keys.map((key) => bus.publish(topic, [envelope(round)], { key })));
    }
    await eventually(() => expect([...seen.values()].flat()).toHaveLength(120));
    for (const key of keys) expect(seen.get(key)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const lengths = await Promise.all(bus.streamsOf(topic).map((stream) => client.xLen(stream)));
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(120);
    expect(lengths.filter((length) => length > 0).length).toBeGreaterThan(1);
    expect(await client.exists(topic)).toBe(0);
  });

  it('gives each partition to one consumer of a group at a time: per-key order holds across consumers', async () => {
    const topic = newTopic();
    const options = { partitions: 4, partitionLeaseMs: 400 };
    const log: Array<{ consumer: string; key: string; n: number }> = [];
    const handler = (consumer: string) => async (message: BrokerMessage) => {
      log.push({ consumer, key: message.key!, n: nOf(message) });
      await new Promise((resolve) => setTimeout(resolve, 1));
    };
    const a = newBus(options);
    const b = newBus(options);
    await a.subscribe(topic, 'g', handler('a'), { concurrency: 4 });
    const keys = Array.from({ length: 16 }, (_, i) => `key-${i}`);
    const rounds = 40;
    let joined = false;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(keys.map((key) => a.publish(topic, [envelope(round)], { key })));
      if (round === 10) {
        await b.subscribe(topic, 'g', handler('b'), { concurrency: 4 });
        joined = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(joined).toBe(true);
    await eventually(() => expect(log).toHaveLength(keys.length * rounds), 15_000);
    for (const key of keys) {
      expect(log.filter((entry) => entry.key === key).map((entry) => entry.n)).toEqual(
        Array.from({ length: rounds }, (_, i) => i),
      );
    }
    // After the rebalance both consumers own partitions.
    expect(new Set(log.slice(-keys.length * 5).map((entry) => entry.consumer))).toEqual(new Set(['a', 'b']));
  });

  it("takes over a dead owner's partition after its lease expires, handling what it left pending first", async () => {
    const topic = newTopic();
    const bus = newBus({ partitions: 2, partitionLeaseMs: 300 });
    const [stream0, stream1] = bus.streamsOf(topic);
    const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find(
      (k) => bus.streamOf(topic, k) === stream0,
    )!;
    await client.xGroupCreate(stream0!, 'g', '0', { MKSTREAM: true });
    await client.xGroupCreate(stream1!, 'g', '0', { MKSTREAM: true });
    await bus.publish(
      topic,
      Array.from({ length: 5 }, (_, i) => envelope(i)),
      { key },
    );
    // The owner of partition 0 read three entries, then died holding them and its lease.
    await client.xReadGroup('g', 'dead', { key: stream0!, id: '>' }, { COUNT: 3 });
    await client.set(`${stream0}:lease:g`, 'dead', { expiration: { type: 'PX', value: 300 } });
    await bus.publish(
      topic,
      Array.from({ length: 5 }, (_, i) => envelope(5 + i)),
      { key },
    );
    const handled: BrokerMessage[] = [];
    await bus.subscribe(topic, 'g', (message) => {
      handled.push(message);
    });
    await eventually(() => expect(handled).toHaveLength(10), 5_000);
    expect(handled.map(nOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(handled.map((message) => message.attempt)).toEqual([2, 2, 2, 1, 1, 1, 1, 1, 1, 1]);
    await eventually(async () => expect(await pendingCount(stream0!, 'g')).toBe(0));
  });

  it('retries a failing message with backoff, then dead-letters it to <topic>.dlq and moves on', async () => {
    const bus = newBus();
    const topic = newTopic();
    const attempts: number[] = [];
    const handled: number[] = [];
    await bus.subscribe(
      topic,
      'g',
      (message) => {
        if (nOf(message) === 1) {
          attempts.push(message.attempt);
          throw Object.assign(new Error('boom'), { code: 'E_BOOM' });
        }
        handled.push(nOf(message));
      },
      { retry: { maxAttempts: 3, initialDelayMs: 5, jitter: 'none' } },
    );
    const letters: BrokerMessage[] = [];
    await bus.subscribe(`${topic}.dlq`, 'dlq-reader', (message) => {
      letters.push(message);
    });
    const poison = envelope(1);
    await bus.publish(topic, [poison, envelope(2)], { key: 'k' });
    await eventually(() => expect(letters).toHaveLength(1));
    expect(attempts).toEqual([1, 2, 3]);
    expect(handled).toEqual([2]);
    expect(letters[0]!.envelope.type).toBe(DEAD_LETTER_TYPE);
    const letter = readDeadLetter(letters[0]!);
    expect(letter).toMatchObject({
      topic,
      group: 'g',
      envelope: poison,
      key: 'k',
      attempts: 3,
      error: { message: 'boom', code: 'E_BOOM' },
    });
    expect(letter.headers['potter-type']).toBe('TestEvent');
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
  });

  it('dead-letters an undecodable entry with the reason and the raw bytes, acks it, and keeps going', async () => {
    const bus = newBus();
    const topic = newTopic();
    const handled: number[] = [];
    await bus.subscribe(topic, 'g', (message) => {
      handled.push(nOf(message));
    });
    const letters: BrokerMessage[] = [];
    await bus.subscribe(`${topic}.dlq`, 'dlq-reader', (message) => {
      letters.push(message);
    });
    const garbage = Buffer.from([0xff, 0x00, 0x7b, 0x6e]);
    await client.xAdd(topic, '*', { body: garbage, key: 'k' });
    await client.xAdd(topic, '*', { nobody: 'here' });
    await bus.publish(topic, [envelope(7)], { key: 'k' });
    await eventually(() => expect(letters).toHaveLength(2));
    await eventually(() => expect(handled).toEqual([7]));
    const [first, second] = letters.map((message) => readDeadLetter(message));
    expect(first).toMatchObject({ topic, group: 'g', envelope: undefined, key: 'k', attempts: 1 });
    expect(first!.raw).toBe(garbage.toString('base64'));
    expect(first!.error.code).toBe('POTTER_SERIALIZATION_FAILED');
    expect(second!.error.message).toMatch(/no "body" field/);
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
  });

  it('reclaims entries left pending by a dead consumer (XAUTOCLAIM after claimIdleMs)', async () => {
    const bus = newBus({ claimIdleMs: 200 });
    const topic = newTopic();
    await client.xGroupCreate(topic, 'g', '0', { MKSTREAM: true });
    await bus.publish(topic, [envelope(1), envelope(2)], { key: 'k' });
    // A consumer reads both entries, then "dies" without acknowledging them.
    await client.xReadGroup('g', 'dead-consumer', { key: topic, id: '>' }, { COUNT: 10 });
    expect(await pendingCount(topic, 'g')).toBe(2);

    const received: BrokerMessage[] = [];
    await bus.subscribe(topic, 'g', (message) => {
      received.push(message);
    });
    await eventually(() => expect(received).toHaveLength(2), 5_000);
    expect(received.map(nOf).sort()).toEqual([1, 2]);
    expect(received.every((message) => message.attempt === 2)).toBe(true);
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
  });

  it('dead-letters a reclaimed entry already delivered more than maxAttempts times', async () => {
    const bus = newBus({ claimIdleMs: 100 });
    const topic = newTopic();
    await client.xGroupCreate(topic, 'g', '0', { MKSTREAM: true });
    await bus.publish(topic, [envelope(1)]);
    await client.xReadGroup('g', 'dead-1', { key: topic, id: '>' }, { COUNT: 10 });
    for (const consumer of ['dead-2', 'dead-3']) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await client.xAutoClaim(topic, 'g', consumer, 0, '0-0');
    }
    const handled: BrokerMessage[] = [];
    const letters: BrokerMessage[] = [];
    await bus.subscribe(`${topic}.dlq`, 'dlq-reader', (message) => {
      letters.push(message);
    });
    await bus.subscribe(
      topic,
      'g',
      (message) => {
        handled.push(message);
      },
      { retry: { maxAttempts: 3 } },
    );
    await eventually(() => expect(letters).toHaveLength(1), 5_000);
    expect(handled).toHaveLength(0);
    expect(readDeadLetter(letters[0]!)).toMatchObject({
      attempts: 3,
      error: { code: 'POTTER_DELIVERY_LIMIT' },
    });
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
  });

  it('keeps entries a slow handler holds from being reclaimed by another consumer', async () => {
    const topic = newTopic();
    const seen: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slow = newBus({ claimIdleMs: 150 });
    await slow.subscribe(topic, 'g', async (message) => {
      seen.push(`slow:${nOf(message)}`);
      await released;
    });
    await slow.publish(topic, [envelope(1)]);
    await eventually(() => expect(seen).toEqual(['slow:1']));
    const other = newBus({ claimIdleMs: 150 });
    await other.subscribe(topic, 'g', (message) => {
      seen.push(`other:${nOf(message)}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    release();
    await eventually(async () => expect(await pendingCount(topic, 'g')).toBe(0));
    expect(seen).toEqual(['slow:1']);
  });

  it('splits a group between competing consumers and fans out to every group', async () => {
    const topic = newTopic();
    const a = newBus();
    const b = newBus();
    const byConsumer = { a: [] as number[], b: [] as number[], other: [] as number[] };
    const slowly = (list: number[]) => async (message: BrokerMessage) => {
      list.push(nOf(message));
      await new Promise((resolve) => setTimeout(resolve, 2));
    };
    await a.subscribe(topic, 'workers', slowly(byConsumer.a));
    await b.subscribe(topic, 'workers', slowly(byConsumer.b));
    await a.subscribe(topic, 'audit', slowly(byConsumer.other));
    for (let i = 0; i < 10; i++) {
      await a.publish(
        topic,
        Array.from({ length: 20 }, (_, j) => envelope(i * 20 + j)),
      );
    }
    await eventually(() => expect(byConsumer.a.length + byConsumer.b.length).toBe(200));
    await eventually(() => expect(byConsumer.other).toHaveLength(200));
    expect(new Set([...byConsumer.a, ...byConsumer.b]).size).toBe(200);
    expect(byConsumer.a.length).toBeGreaterThan(0);
    expect(byConsumer.b.length).toBeGreaterThan(0);
  });

  it('stop() finishes and acknowledges what it holds; a later consumer of the group gets the rest', async () => {
    const topic = newTopic();
    const bus = newBus({ batchSize: 10 });
    const handled: number[] = [];
    const first: TopicSubscription = await bus.subscribe(topic, 'g', async (message) => {
      handled.push(nOf(message));
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
    await bus.publish(
      topic,
      Array.from({ length: 60 }, (_, i) => envelope(i)),
    );
    await eventually(() => expect(handled.length).toBeGreaterThan(5));
    await first.stop();
    const afterStop = handled.length;
    expect(await pendingCount(topic, 'g')).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(handled).toHaveLength(afterStop);
    await bus.subscribe(topic, 'g', (message) => {
      handled.push(nOf(message));
    });
    await eventually(() => expect(handled).toHaveLength(60));
    expect(handled).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it('starts a new group at new entries only when fromBeginning is false', async () => {
    const bus = newBus();
    const topic = newTopic();
    await bus.publish(topic, [envelope(1)]);
    const received: number[] = [];
    await bus.subscribe(
      topic,
      'late',
      (message) => {
        received.push(nOf(message));
      },
      { fromBeginning: false },
    );
    await bus.publish(topic, [envelope(2)]);
    await eventually(() => expect(received).toEqual([2]));
  });

  it('trims streams on publish with maxLen (MAXLEN ~)', async () => {
    const bus = newBus({ maxLen: 50 });
    const topic = newTopic();
    for (let i = 0; i < 10; i++)
      await bus.publish(
        topic,
        Array.from({ length: 100 }, (_, j) => envelope(i * 100 + j)),
      );
    const length = await client.xLen(topic);
    expect(length).toBeGreaterThanOrEqual(50);
    expect(length).toBeLessThan(300);
  });

  it('encodes with the configured codec', async () => {
    const binary = { ...jsonCodec, name: 'reversed', contentType: 'application/x-reversed' };
    binary.encode = (env) => Buffer.from(jsonCodec.encode(env)).reverse();
    binary.decode = (bytes) => jsonCodec.decode(Buffer.from(bytes).reverse());
    const bus = newBus({ codec: binary });
    const topic = newTopic();
    const received: BrokerMessage[] = [];
    await bus.subscribe(topic, 'g', (message) => {
      received.push(message);
    });
    const sent = envelope(1, { text: 'héllo' });
    await bus.publish(topic, [sent]);
    await eventually(() => expect(received).toHaveLength(1));
    expect(received[0]!.envelope).toEqual(sent);
    expect(received[0]!.headers['content-type']).toBe('application/x-reversed');
  });
});

describe('RedisBroadcast (pub/sub, at-most-once)', () => {
  it('delivers a published envelope to every current subscriber', async () => {
    const a = new RedisBroadcast({ url });
    const b = new RedisBroadcast({ url });
    buses.push(a, b);
    const channel = `${prefix}:broadcast`;
    const gotA: MessageEnvelope[] = [];
    const gotB: MessageEnvelope[] = [];
    await a.subscribe(channel, (env) => {
      gotA.push(env);
    });
    const subscriptionB = await b.subscribe(channel, (env) => {
      gotB.push(env);
    });
    const sent = envelope(1);
    expect(await a.publish(channel, [sent])).toBe(2);
    await eventually(() => expect(gotA).toEqual([sent]));
    await eventually(() => expect(gotB).toEqual([sent]));
    await subscriptionB.unsubscribe();
    expect(await a.publish(channel, [envelope(2)])).toBe(1);
    await eventually(() => expect(gotA).toHaveLength(2));
    expect(gotB).toHaveLength(1);
  });
});

function contractFixture(options: RedisMessageBusOptions) {
  return async () => {
    const bus = new RedisMessageBus({ url, blockMs: 500, ...options });
    const topics = new Set<string>();
    // Records the topics the suite uses, so that cleanup deletes their keys (and nothing else).
    const recording: MessageBus = {
      publish: (topic, envelopes, publishOptions) => {
        topics.add(topic);
        return bus.publish(topic, envelopes, publishOptions);
      },
      subscribe: (topic, group, handler, subscribeOptions) => {
        topics.add(topic).add(`${topic}.dlq`);
        return bus.subscribe(topic, group, handler, subscribeOptions);
      },
      close: () => bus.close(),
    };
    return {
      bus: recording,
      publishRaw: async (topic: string, bytes: Buffer, key?: string) => {
        topics.add(topic);
        const fields: Record<string, Buffer | string> =
          key === undefined ? { body: bytes } : { body: bytes, key };
        await client.xAdd(bus.streamOf(topic, key), '*', fields);
      },
      cleanup: async () => {
        await bus.close();
        for (const topic of topics) {
          const keys = [...bus.streamsOf(topic)];
          for await (const found of client.scanIterator({ MATCH: `${topic}:*`, COUNT: 1000 }))
            keys.push(...found);
          await client.del(keys);
        }
      },
    };
  };
}

describeMessageBusContract('RedisMessageBus', contractFixture({}));
describeMessageBusContract(
  'RedisMessageBus, 4 partitions',
  contractFixture({ partitions: 4, partitionLeaseMs: 1000 }),
);
