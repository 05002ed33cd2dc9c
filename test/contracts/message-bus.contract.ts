import { randomUUID } from 'node:crypto';
import {
  readDeadLetter,
  type BrokerMessage,
  type DeadLetter,
  type MessageBus,
  type MessageEnvelope,
  type SubscribeToTopicOptions,
  type TopicSubscription,
} from 'potter';

/** What a message-bus adapter gives the contract suite. */
export interface MessageBusFixture {
  bus: MessageBus;
  /** Publishes bytes the bus cannot decode, the adapter's way (same key → same partition/stream). */
  publishRaw(topic: string, bytes: Buffer, key?: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** Every wait of the suite gives up after this long (brokers may need a rebalance or two). */
const WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;
/** Fast retries, so the suite stays quick. */
const FAST_RETRY: SubscribeToTopicOptions['retry'] = { maxAttempts: 3, initialDelayMs: 5, jitter: 'none' };

let counter = 0;

/** A test envelope whose payload carries `n` (and `key`, for ordering checks). */
export function envelope(n: number, extra: Record<string, unknown> = {}): MessageEnvelope {
  return {
    id: randomUUID(),
    type: 'ContractTested',
    kind: 'event',
    payload: { n, ...extra },
    metadata: {
      correlationId: randomUUID(),
      causationId: randomUUID(),
      timestamp: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, n % 1000)).toISOString(),
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tenantId: 'tenant-a',
      schemaVersion: 2,
      headers: { 'x-user': `user-${n}` },
    },
  };
}

/** Polls `predicate` until it holds, failing with `what` after {@link WAIT_MS}. */
export async function eventually(what: string, predicate: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const payloadOf = (message: BrokerMessage): { n: number; key?: string } =>
  message.envelope.payload as unknown as { n: number; key?: string };

/** The behaviour every MessageBus adapter must have. */
export function describeMessageBusContract(name: string, factory: () => Promise<MessageBusFixture>): void {
  describe(`MessageBus contract: ${name}`, () => {
    let fixture: MessageBusFixture;
    let subscriptions: TopicSubscription[] = [];
    const runId = randomUUID().slice(0, 8);
    const topicName = (tag: string): string => `potter-contract-${runId}-${tag}-${++counter}`;

    const subscribe = async (
      topic: string,
      group: string,
      handler: (message: BrokerMessage) => Promise<void> | void,
      options?: SubscribeToTopicOptions,
    ): Promise<TopicSubscription> => {
      const subscription = await fixture.bus.subscribe(topic, group, handler, options);
      subscriptions.push(subscription);
      return subscription;
    };

    /** Collects the dead letters of `topic`. */
    const collectDeadLetters = async (topic: string): Promise<DeadLetter[]> => {
      const letters: DeadLetter[] = [];
      await subscribe(`${topic}.dlq`, 'dlq-reader', (message) => {
        letters.push(readDeadLetter(message));
      });
      return letters;
    };

    beforeAll(async () => {
      fixture = await factory();
    }, TEST_TIMEOUT_MS);

    afterEach(async () => {
      const running = subscriptions;
      subscriptions = [];
      await Promise.all(running.map((subscription) => subscription.stop()));
    }, TEST_TIMEOUT_MS);

    afterAll(async () => {
      await fixture?.cleanup();
    }, TEST_TIMEOUT_MS);

    it(
      'delivers a published envelope with its metadata and headers intact',
      async () => {
        const topic = topicName('roundtrip');
        const received: BrokerMessage[] = [];
        await subscribe(topic, 'g', (message) => {
          received.push(message);
        });
        const sent = envelope(1);
        await fixture.bus.publish(topic, [sent], { key: 'order-1', headers: { 'x-extra': 'yes' } });
        await eventually('the message', () => received.length === 1);
        const [message] = received;
        expect(message!.envelope).toEqual(sent);
        expect(message!.topic).toBe(topic);
        expect(message!.key).toBe('order-1');
        expect(message!.attempt).toBe(1);
        expect(typeof message!.brokerId).toBe('string');
        expect(message!.headers).toMatchObject({
          'potter-id': sent.id,
          'potter-type': 'ContractTested',
          'potter-schema-version': '2',
          'potter-kind': 'event',
          traceparent: sent.metadata.traceparent,
          'x-user': 'user-1',
          'x-extra': 'yes',
        });
        expect(message!.headers['content-type']).toEqual(expect.any(String));
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'keeps the order of each key while handling different keys concurrently',
      async () => {
        const topic = topicName('order');
        const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
        const perKey = 15;
        const seen = new Map<string, number[]>();
        let active = 0;
        let maxActive = 0;
        await subscribe(
          topic,
          'g',
          async (message) => {
            active++;
            maxActive = Math.max(maxActive, active);
            await new Promise((resolve) => setTimeout(resolve, 1 + (payloadOf(message).n % 3)));
            const { key, n } = payloadOf(message);
            seen.set(key!, [...(seen.get(key!) ?? []), n]);
            active--;
          },
          { concurrency: 4 },
        );
        for (let round = 0; round < perKey; round++) {
          await Promise.all(
            keys.map((key) => fixture.bus.publish(topic, [envelope(round, { key })], { key })),
          );
        }
        const total = () => [...seen.values()].reduce((sum, list) => sum + list.length, 0);
        await eventually('every message', () => total() >= keys.length * perKey);
        for (const key of keys) {
          expect(seen.get(key)).toEqual(Array.from({ length: perKey }, (_, i) => i));
        }
        expect(maxActive).toBeGreaterThan(1);
        expect(maxActive).toBeLessThanOrEqual(4);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'delivers every message to each group (fan-out)',
      async () => {
        const topic = topicName('fanout');
        const a: number[] = [];
        const b: number[] = [];
        await subscribe(topic, 'group-a', (m) => {
          a.push(payloadOf(m).n);
        });
        await subscribe(topic, 'group-b', (m) => {
          b.push(payloadOf(m).n);
        });
        await fixture.bus.publish(
          topic,
          Array.from({ length: 10 }, (_, i) => envelope(i)),
          { key: 'k' },
        );
        await eventually('both groups', () => a.length >= 10 && b.length >= 10);
        const all = Array.from({ length: 10 }, (_, i) => i);
        expect(a).toEqual(all);
        expect(b).toEqual(all);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'shares the messages among the consumers of one group (competing consumers)',
      async () => {
        const topic = topicName('compete');
        const handled = new Map<string, number>();
        const byConsumer = [0, 0];
        const handlerOf = (index: number) => (message: BrokerMessage) => {
          byConsumer[index]!++;
          handled.set(message.envelope.id, (handled.get(message.envelope.id) ?? 0) + 1);
        };
        await subscribe(topic, 'workers', handlerOf(0));
        await subscribe(topic, 'workers', handlerOf(1));
        // Publish in batches until both consumers got some (a broker may still be rebalancing).
        const published: string[] = [];
        for (let batch = 0; batch < 40 && (byConsumer[0] === 0 || byConsumer[1] === 0); batch++) {
          await Promise.all(
            Array.from({ length: 20 }, (_, i) => {
              const sent = envelope(batch * 20 + i);
              published.push(sent.id);
              return fixture.bus.publish(topic, [sent], { key: `key-${batch}-${i}` });
            }),
          );
          await eventually('the batch', () => handled.size >= published.length);
          if (byConsumer[0] === 0 || byConsumer[1] === 0) await new Promise((r) => setTimeout(r, 250));
        }
        await eventually('every message', () => handled.size >= published.length);
        expect(byConsumer[0]).toBeGreaterThan(0);
        expect(byConsumer[1]).toBeGreaterThan(0);
        expect([...handled.keys()].sort()).toEqual([...published].sort());
        expect([...handled.values()].every((count) => count === 1)).toBe(true);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'retries a failing message with backoff, then succeeds',
      async () => {
        const topic = topicName('retry');
        const attempts: number[] = [];
        let done = false;
        await subscribe(
          topic,
          'g',
          (message) => {
            attempts.push(message.attempt);
            if (attempts.length < 3) throw new Error(`transient failure ${attempts.length}`);
            done = true;
          },
          { retry: { maxAttempts: 5, initialDelayMs: 5, jitter: 'none' } },
        );
        await fixture.bus.publish(topic, [envelope(1)], { key: 'k' });
        await eventually('success on the third attempt', () => done);
        expect(attempts).toEqual([1, 2, 3]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'dead-letters a message that fails every attempt, with the error and headers, and moves on',
      async () => {
        const topic = topicName('dlq');
        const letters = await collectDeadLetters(topic);
        const handled: number[] = [];
        await subscribe(
          topic,
          'workers',
          (message) => {
            if (payloadOf(message).n === 1) throw new Error('boom: cannot handle 1');
            handled.push(payloadOf(message).n);
          },
          { retry: FAST_RETRY },
        );
        const poisoned = envelope(1);
        await fixture.bus.publish(topic, [poisoned], { key: 'k', headers: { 'x-origin': 'contract' } });
        await fixture.bus.publish(topic, [envelope(2)], { key: 'k' });
        await eventually(
          'the next message and the dead letter',
          () => handled.includes(2) && letters.length === 1,
        );
        expect(handled).toEqual([2]);
        const [letter] = letters;
        expect(letter).toMatchObject({
          topic,
          group: 'workers',
          key: 'k',
          attempts: 3,
          raw: undefined,
          error: { message: expect.stringContaining('boom: cannot handle 1') },
        });
        expect(letter!.envelope).toEqual(poisoned);
        expect(letter!.headers).toMatchObject({
          'x-origin': 'contract',
          'potter-id': poisoned.id,
          'potter-type': 'ContractTested',
        });
        expect(typeof letter!.error.code).toBe('string');
        expect(Number.isNaN(Date.parse(letter!.failedAt))).toBe(false);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'dead-letters an undecodable message with the reason without blocking its partition',
      async () => {
        const topic = topicName('poison');
        const letters = await collectDeadLetters(topic);
        const handled: number[] = [];
        await subscribe(
          topic,
          'g',
          (message) => {
            handled.push(payloadOf(message).n);
          },
          { retry: FAST_RETRY },
        );
        await fixture.bus.publish(topic, [envelope(1)], { key: 'same' });
        const garbage = Buffer.from([0xc1, 0xff, 0x00, 0x7b, 0x6e, 0x6f, 0x74]);
        await fixture.publishRaw(topic, garbage, 'same');
        await fixture.bus.publish(topic, [envelope(2)], { key: 'same' });
        await eventually('the messages around the poison and its dead letter', () => {
          return handled.length >= 2 && letters.length === 1;
        });
        expect(handled).toEqual([1, 2]);
        const [letter] = letters;
        expect(letter!.envelope).toBeUndefined();
        expect(Buffer.from(letter!.raw!, 'base64')).toEqual(garbage);
        expect(letter!.error.code).toBe('POTTER_SERIALIZATION_FAILED');
        expect(letter!.error.message).toMatch(/decode/i);
        expect(letter!).toMatchObject({ topic, group: 'g', key: 'same' });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'stops gracefully: in-flight messages finish, and the group resumes without losing any',
      async () => {
        const topic = topicName('stop');
        const handled = new Set<string>();
        let active = 0;
        const handler = async (message: BrokerMessage) => {
          active++;
          await new Promise((resolve) => setTimeout(resolve, 2));
          handled.add(message.envelope.id);
          active--;
        };
        const first = await subscribe(topic, 'g', handler, { concurrency: 4 });
        const sent = Array.from({ length: 300 }, (_, i) => envelope(i));
        const publishing = Promise.all(
          sent.map((e, i) => fixture.bus.publish(topic, [e], { key: `key-${i % 25}` })),
        );
        await eventually('some messages handled', () => handled.size >= 20);
        await first.stop();
        expect(active).toBe(0); // nothing of the stopped subscription still runs
        await publishing;
        await subscribe(topic, 'g', handler, { concurrency: 4 });
        await eventually('every message', () => handled.size >= sent.length);
        expect([...handled].sort()).toEqual(sent.map((e) => e.id).sort());
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'starts a new group from the beginning when asked (fromBeginning)',
      async () => {
        const topic = topicName('late');
        await fixture.bus.publish(
          topic,
          Array.from({ length: 5 }, (_, i) => envelope(i)),
          { key: 'k' },
        );
        const handled: number[] = [];
        await subscribe(
          topic,
          'late-group',
          (message) => {
            handled.push(payloadOf(message).n);
          },
          { fromBeginning: true },
        );
        await eventually('the older messages', () => handled.length >= 5);
        expect(handled).toEqual([0, 1, 2, 3, 4]);
      },
      TEST_TIMEOUT_MS,
    );
  });
}
