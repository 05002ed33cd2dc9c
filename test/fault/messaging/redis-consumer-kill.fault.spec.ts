import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import type { BrokerMessage } from 'potter';
import { RedisMessageBus } from 'potter/redis';
import { redisUrl, serviceUnavailable } from '../../support/services';
import { nOf, numbered, sleep, until, useProcessWorkers } from '../support/messaging-fault';

/**
 * A Redis Streams consumer killed (SIGKILL) while it holds messages it has not acknowledged: the
 * entries stay pending in the group under the dead consumer's name, and another consumer of the
 * group reclaims them (XAUTOCLAIM once idle for `claimIdleMs`) and handles every one. While the
 * holder is alive (its handlers merely slow), it keeps its entries fresh and nobody takes them.
 */

const url = redisUrl();
const CLAIM_IDLE_MS = 1500;
let admin: ReturnType<typeof createClient>;
const topics: string[] = [];

beforeAll(async () => {
  admin = createClient({ url, socket: { connectTimeout: 5_000, reconnectStrategy: false } });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
  } catch (error) {
    throw serviceUnavailable('Redis', url, error);
  }
});

afterAll(async () => {
  if (!admin?.isOpen) return;
  for (const topic of topics) await admin.del([topic, `${topic}.dlq`]);
  await admin.close();
});

/** Pending entries of `group` per consumer name (XPENDING summary). */
async function pendingByConsumer(topic: string, group: string): Promise<Map<string, number>> {
  const reply = (await admin.sendCommand(['XPENDING', topic, group])) as unknown[];
  const consumers = (reply[3] ?? []) as [string, string][];
  return new Map(consumers.map(([name, count]) => [String(name), Number(count)]));
}

describe('Redis consumer killed before it acknowledges', () => {
  const workers = useProcessWorkers();

  it('another consumer of the group reclaims and handles every message the dead one held', async () => {
    const topic = `potter-fault:redis-kill:${randomUUID()}`;
    const group = 'fault-group';
    topics.push(topic);
    const TOTAL = 20;
    const LATER = 10;

    const publisher = new RedisMessageBus({ url });
    const consumerBus = new RedisMessageBus({
      url,
      claimIdleMs: CLAIM_IDLE_MS,
      claimIntervalMs: 100,
      blockMs: 500,
    });
    try {
      // Every message is published before anyone reads: the doomed consumer reads them all.
      for (let n = 0; n < TOTAL; n++) await publisher.publish(topic, [numbered(n)], { key: `k-${n}` });

      const doomed = workers.start(
        'messaging-consumer-worker.js',
        {
          FAULT_BUS: 'redis',
          POTTER_REDIS_URL: url,
          FAULT_TOPIC: topic,
          FAULT_GROUP: group,
          FAULT_CONCURRENCY: '4',
          FAULT_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
          FAULT_CLAIM_INTERVAL_MS: '100',
        },
        'doomed consumer',
      );
      await doomed.until(() => doomed.of('holding').length >= 4, '4 messages held', 20_000);
      const heldByDoomed = doomed.of('holding').map((line) => Number(line.n));
      // All 20 entries are delivered to it and unacknowledged (4 in its hanging handlers, 16 queued).
      await until(
        async () => [...(await pendingByConsumer(topic, group)).values()].join() === String(TOTAL),
        `all ${TOTAL} entries pending on one consumer`,
        10_000,
      );

      // A second consumer joins the group while the first is alive but stuck: for several idle
      // thresholds it gets nothing (the holder keeps its entries fresh; slow is not dead).
      const received: BrokerMessage[] = [];
      const subscription = await consumerBus.subscribe(
        topic,
        group,
        (message) => void received.push({ ...message }),
        { concurrency: 4 },
      );
      await sleep(CLAIM_IDLE_MS * 2.5);
      expect(received).toEqual([]);
      expect([...(await pendingByConsumer(topic, group)).values()]).toEqual([TOTAL]);
      expect(doomed.of('holding')).toHaveLength(4); // still stuck on the same four

      const killedAt = Date.now();
      await doomed.kill();

      const handled = (): Set<number> => new Set(received.map(nOf));
      await until(
        () => handled().size >= TOTAL,
        `all ${TOTAL} messages reclaimed`,
        20_000,
        () => JSON.stringify([...handled()].sort((a, b) => a - b)),
      );
      const reclaimMs = Date.now() - killedAt;
      expect([...handled()].sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, n) => n));
      for (const n of heldByDoomed) expect(handled().has(n)).toBe(true);
      // Each was delivered once to the dead consumer: this is its second delivery.
      expect(new Set(received.map((message) => message.attempt))).toEqual(new Set([2]));
      // The same envelopes as published (ids are unique per message).
      expect(new Set(received.map((message) => message.envelope.id)).size).toBe(TOTAL);

      // The group carries on with new messages, and nothing stays pending.
      for (let n = TOTAL; n < TOTAL + LATER; n++)
        await publisher.publish(topic, [numbered(n)], { key: `k-${n}` });
      await until(() => handled().size >= TOTAL + LATER, 'the later messages', 10_000);
      await subscription.stop();
      expect([...(await pendingByConsumer(topic, group)).values()].reduce((a, b) => a + b, 0)).toBe(0);
      if (process.env.FAULT_VERBOSE)
        console.log(`reclaimed ${TOTAL} messages ${reclaimMs} ms after the kill`);
      expect(reclaimMs).toBeLessThan(CLAIM_IDLE_MS + 10_000);
    } finally {
      await consumerBus.close();
      await publisher.close();
    }
  }, 60_000);
});
