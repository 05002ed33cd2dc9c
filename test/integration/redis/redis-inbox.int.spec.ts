import { randomUUID } from 'node:crypto';
import { ConfigurationError } from 'potter';
import { RedisInbox } from 'potter/redis';
import { createClient } from 'redis';
import { redisUrl, serviceUnavailable } from '../../support/services';

describe('RedisInbox', () => {
  const url = redisUrl();
  const keyPrefix = `potter:test:inbox:${randomUUID()}`;
  let client: ReturnType<typeof createClient>;
  let inbox: RedisInbox;

  beforeAll(async () => {
    client = createClient({ url, socket: { connectTimeout: 5_000, reconnectStrategy: false } });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      throw serviceUnavailable('Redis', url, error);
    }
    inbox = new RedisInbox({ client, keyPrefix, ttlMs: 60_000 });
  });

  afterAll(async () => {
    if (client?.isOpen) {
      const keys = await client.keys(`${keyPrefix}:*`);
      if (keys.length > 0) await client.del(keys);
      await client.close();
    }
  });

  it('records an id once per consumer, with a TTL', async () => {
    expect(await inbox.seen('billing', 'm-1')).toBe(false);
    expect(await inbox.seen('billing', 'm-1')).toBe(true);
    expect(await inbox.seen('shipping', 'm-1')).toBe(false);
    const ttl = await client.pTTL(`${keyPrefix}:billing:m-1`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('forgets an id after its TTL', async () => {
    const shortLived = new RedisInbox({ client, keyPrefix, ttlMs: 50 });
    expect(await shortLived.seen('ttl', 'm-1')).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await shortLived.seen('ttl', 'm-1')).toBe(false);
  });

  it('runs a handler once among 10 concurrent calls with the same id', async () => {
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        inbox.once('exactly-once', 'm-1', async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return i;
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(results.filter((result) => result.processed)).toHaveLength(1);
    expect(await client.get(`${keyPrefix}:exactly-once:m-1`)).toBe('done');
  });

  it('releases the id when the handler throws, so a concurrent or later call runs it', async () => {
    const failing = inbox.once('failing', 'm-1', async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      throw new Error('boom');
    });
    const waiting = inbox.once('failing', 'm-1', () => 'second');
    await expect(failing).rejects.toThrow('boom');
    await expect(waiting).resolves.toEqual({ processed: true, result: 'second' });
    await expect(inbox.once('failing', 'm-1', () => 'third')).resolves.toEqual({ processed: false });
  });

  it('connects its own client from a URL and refuses transactions', async () => {
    const own = new RedisInbox({ url, keyPrefix });
    try {
      expect(await own.seen('own', 'm-1')).toBe(false);
      expect(await own.seen('own', 'm-1')).toBe(true);
      await expect(own.once('own', 'm-2', () => 1, { tx: {} as unknown as undefined })).rejects.toThrow(
        ConfigurationError,
      );
    } finally {
      await own.close();
    }
  });
});
