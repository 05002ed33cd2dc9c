import type { SqlEventStore } from 'potter/postgres';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import {
  appliedBy,
  checkpoint,
  createFaultStore,
  fold,
  readEvents,
  readSqlModel,
  seed,
  sleep,
  sorted,
  startWriter,
  until,
  untilCheckpointAt,
  useWorkers,
  type Worker,
} from '../support/projection-fault';

/**
 * Two instances (processes) of an application run the same projection: exactly one of them holds
 * its lease and handles events. The owner is killed with SIGKILL while events are being appended;
 * the other takes over within a few seconds and continues from the checkpoint — no gap, no duplicate.
 */
describe('projection failover between two processes (PostgreSQL)', () => {
  const pg = usePostgresSchemas('fault_failover');
  const workers = useWorkers();
  let store: SqlEventStore | undefined;

  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('runs on exactly one instance; when it is killed the other continues without gap or duplicate', async () => {
    const schema = pg.schema();
    const pool = pg.pool();
    store = await createFaultStore(pool, schema);
    await seed(store, { accounts: 200, perAccount: 20 });

    const leaseTtlMs = 1200;
    const a = workers.start({ schema, instance: 'node-a', leaseTtlMs, batchSize: 100 });
    const b = workers.start({ schema, instance: 'node-b', leaseTtlMs, batchSize: 100 });
    await Promise.all([
      a.waitFor((l) => l.t === 'ready', 'ready'),
      b.waitFor((l) => l.t === 'ready', 'ready'),
    ]);
    const writer = startWriter(store, { accounts: 250, intervalMs: 10 });
    try {
      // Exactly one owns it, and only that one handles events (watched for a few lease periods).
      const owner = await until(async () => {
        const cp = await checkpoint(pool, schema);
        return cp?.live && cp.owner !== null ? cp.owner : undefined;
      }, 'an owner');
      const [running, standby]: [Worker, Worker] = owner === 'node-a' ? [a, b] : [b, a];
      await until(async () => ((await appliedBy(pool, schema))[owner] ?? 0) >= 4000, 'the initial catch-up');
      for (let i = 0; i < 6; i++) {
        await sleep(400);
        const cp = await checkpoint(pool, schema);
        expect(cp).toMatchObject({ owner, live: true });
      }
      expect(running.of('acquired')).toHaveLength(1);
      expect(standby.of('acquired')).toHaveLength(0);
      expect(standby.of('handling')).toHaveLength(0);
      expect(Object.keys(await appliedBy(pool, schema))).toEqual([owner]);
      const before = (await checkpoint(pool, schema))!;

      // Kill the owner while appends go on: the other takes over and continues.
      const killedAt = Date.now();
      await running.kill();
      const acquired = await standby.waitFor((l) => l.t === 'acquired', 'the takeover', 10_000);
      const takeoverMs = acquired.at - killedAt;
      expect(takeoverMs).toBeLessThan(5000);
      expect(acquired.token).toBeGreaterThan(before.token);
      await standby.waitFor((l) => l.t === 'handling', 'handling after the takeover', 5000);
      await sleep(1500);
      const written = await writer.stop();
      expect(written).toBeGreaterThan(100);

      const events = await readEvents(store);
      const lastPosition = events[events.length - 1]!.position;
      await untilCheckpointAt(pool, schema, lastPosition, 'the new owner to catch up', 20_000, [standby]);
      const after = (await checkpoint(pool, schema))!;
      expect(after).toMatchObject({
        position: lastPosition,
        owner: standby.instance,
        live: true,
        token: acquired.token,
      });

      const actual = await readSqlModel(pool, schema);
      expect(sorted(actual)).toEqual(sorted(fold(events)));
      for (const [, doc] of actual.accounts) expect(doc.gaps).toBe(0);
      // Both instances' work adds up to the log: the new owner resumed exactly at the checkpoint.
      const applied = await appliedBy(pool, schema);
      expect(applied[owner]! + applied[standby.instance]!).toBe(events.length);
      expect(applied[standby.instance]).toBeGreaterThan(0);
      expect(await standby.stop()).toEqual({ code: 0, signal: null });
      process.stdout.write(
        `failover: takeover ${takeoverMs} ms after SIGKILL (lease ttl ${leaseTtlMs} ms); ${events.length} events, ` +
          `${applied[owner]} by ${owner}, ${applied[standby.instance]} by ${standby.instance}\n`,
      );
    } finally {
      await writer.stop().catch(() => undefined);
    }
  }, 60_000);
});
