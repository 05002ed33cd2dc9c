import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisMessageBus } from 'potter/redis';
import {
  PrivateRedis,
  freePort,
  nOf,
  until,
  useProcessWorkers,
  type ProcessWorker,
} from '../support/messaging-fault';

/**
 * Redis restarted (gracefully, then by a crash) while a producer process publishes: every message
 * whose publish was acknowledged to the producer is consumed afterwards — by a fresh group reading
 * from the beginning, and by a consumer that stayed subscribed across both restarts.
 *
 * The guarantee needs persistence: an acknowledged XADD survives a restart only if Redis wrote it
 * to disk first. This test runs its own `redis-server` with the append-only file fsynced on every
 * write (`--appendonly yes --appendfsync always`, no RDB snapshots), so even the SIGKILL loses
 * nothing acknowledged. (The shared test Redis runs without persistence: a restart would lose the
 * streams by design. With `appendfsync everysec` a crash may lose up to a second of acknowledged
 * messages; with no persistence, all of them.)
 */

const COUNT = 1500;

describe('Redis restarted while a producer publishes', () => {
  const workers = useProcessWorkers();
  let redis: PrivateRedis | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await redis?.stop('SIGKILL');
    redis = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('every message acknowledged to the producer is eventually consumed (needs AOF, appendfsync always)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'potter-fault-redis-'));
    redis = new PrivateRedis(await freePort(), dir);
    const server = redis;
    await server.start();
    const topic = `fault-restart-${randomUUID()}`;

    // A consumer that stays subscribed across the restarts.
    const liveBus = new RedisMessageBus({
      url: server.url,
      claimIdleMs: 1000,
      claimIntervalMs: 100,
      blockMs: 500,
      clientOptions: { socket: { reconnectStrategy: () => 100 } },
    });
    const live = new Set<number>();
    let freshBus: RedisMessageBus | undefined;
    try {
      await liveBus.subscribe(topic, 'live', (message) => void live.add(nOf(message)), { concurrency: 8 });

      const producer: ProcessWorker = workers.start(
        'messaging-producer-worker.js',
        { FAULT_BUS: 'redis', POTTER_REDIS_URL: server.url, FAULT_TOPIC: topic, FAULT_COUNT: String(COUNT) },
        'producer',
      );
      const acked = (): number[] => producer.of('acked').map((line) => Number(line.n));

      // Graceful restart (SIGTERM: Redis flushes and exits), down for a moment, same port and dir.
      await producer.until(() => acked().length >= 300, '300 acknowledged publishes', 30_000);
      await server.stop('SIGTERM');
      const firstDownAt = acked().length;
      await new Promise((resolve) => setTimeout(resolve, 500));
      await server.start();

      // A crash (SIGKILL) later on: only what was fsynced survives, which includes every acknowledged write.
      await producer.until(
        () => acked().length >= firstDownAt + 400,
        '400 more acknowledged publishes',
        30_000,
      );
      await server.stop('SIGKILL');
      const secondDownAt = acked().length;
      await new Promise((resolve) => setTimeout(resolve, 500));
      await server.start();

      await producer.until(() => producer.of('done').length > 0, 'the producer to finish', 60_000);
      // Both restarts hit the producer mid-way.
      expect(secondDownAt).toBeLessThan(COUNT);
      const ackedSet = new Set(acked());
      expect(ackedSet.size).toBe(COUNT); // the producer retried until each number was acknowledged

      // A fresh group from the beginning finds every acknowledged message in the stream.
      freshBus = new RedisMessageBus({ url: server.url, blockMs: 500 });
      const fresh = new Set<number>();
      await freshBus.subscribe(topic, `fresh-${randomUUID()}`, (message) => void fresh.add(nOf(message)), {
        fromBeginning: true,
        concurrency: 8,
      });
      const missing = (seen: Set<number>): number[] => [...ackedSet].filter((n) => !seen.has(n));
      await until(
        () => missing(fresh).length === 0,
        'every acknowledged message (fresh group)',
        20_000,
        () => `missing ${missing(fresh).length}: ${missing(fresh).slice(0, 20).join(', ')}`,
      );
      // So does the consumer that lived through both restarts.
      await until(
        () => missing(live).length === 0,
        'every acknowledged message (live consumer)',
        20_000,
        () => `missing ${missing(live).length}: ${missing(live).slice(0, 20).join(', ')}`,
      );

      const failed = producer.of('failed').length;
      if (process.env.FAULT_VERBOSE) {
        console.log(
          `redis-restart: ${COUNT} acknowledged; restarts after ${firstDownAt} and ${secondDownAt}; ` +
            `${failed} failed publishes retried (${[...new Set(producer.of('failed').map((line) => String(line.message)))].join(' | ')}); fresh group saw ${fresh.size}, live consumer ${live.size}`,
        );
      }
    } finally {
      await freshBus?.close();
      await liveBus.close();
    }
  }, 90_000);
});
