import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { redisUrl, serviceUnavailable } from '../../support/services';

// Smoke test of the Redis that scripts/services/up provides (or POTTER_REDIS_URL names).
describe('Redis test service', () => {
  const url = redisUrl();
  const prefix = `potter:test:redis-service:${randomUUID()}`;
  const key = `${prefix}:string`;
  const stream = `${prefix}:stream`;
  let client: ReturnType<typeof createClient>;

  beforeAll(async () => {
    client = createClient({ url, socket: { connectTimeout: 5_000, reconnectStrategy: false } });
    client.on('error', () => undefined); // connect() rejects with the error; don't crash on the event
    try {
      await client.connect();
    } catch (error) {
      throw serviceUnavailable('Redis', url, error);
    }
  });

  afterAll(async () => {
    if (client?.isOpen) {
      await client.del([key, stream]);
      await client.close();
    }
  });

  it('is Redis 7 or newer', async () => {
    const info = String(await client.info('server'));
    const major = /^redis_version:(\d+)\./m.exec(info)?.[1];
    expect(Number(major)).toBeGreaterThanOrEqual(7);
  });

  it('reads back what it writes', async () => {
    const value = randomUUID();
    expect(await client.set(key, value, { expiration: { type: 'EX', value: 60 } })).toBe('OK');
    expect(await client.get(key)).toBe(value);
    expect(await client.del(key)).toBe(1);
    expect(await client.get(key)).toBeNull();
  });

  it('round-trips a stream entry through a consumer group (XADD, XREADGROUP, XACK)', async () => {
    const group = 'smoke';
    expect(await client.xGroupCreate(stream, group, '0', { MKSTREAM: true })).toBe('OK');
    await client.expire(stream, 60);

    const id = await client.xAdd(stream, '*', { kind: 'smoke', n: '1' });
    expect(id).toMatch(/^\d+-\d+$/);

    const read = await client.xReadGroup(group, 'consumer-1', { key: stream, id: '>' }, { COUNT: 10 });
    expect(read).toEqual([{ name: stream, messages: [{ id, message: { kind: 'smoke', n: '1' } }] }]);
    expect((await client.xPending(stream, group)).pending).toBe(1);

    expect(await client.xAck(stream, group, id)).toBe(1);
    expect((await client.xPending(stream, group)).pending).toBe(0);
    expect(await client.xReadGroup(group, 'consumer-1', { key: stream, id: '>' }, { COUNT: 10 })).toBeNull();
  });
});
