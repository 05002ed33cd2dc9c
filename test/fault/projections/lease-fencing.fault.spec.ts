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
} from '../support/projection-fault';

/**
 * Lease fencing: instance A is frozen with SIGSTOP in the middle of a batch transaction, past its
 * lease; instance B takes the projection over and runs it; then A is resumed with SIGCONT. A must
 * commit no further progress (its transaction is gone or its commit is fenced with
 * `ProjectionFencedError`: its token is stale), must notice it lost the lease ('lease lost') and
 * stand by; the read model equals the pure fold and the checkpoint row holds B's token.
 *
 * The handler stalls once per batch transaction, and A is frozen during that stall:
 * - `begin`: before the batch's first write — A's open transaction holds no row lock;
 * - `write`: after the first event's writes — A's open transaction holds row locks B's handler
 *   needs (the account and the global totals rows). The runner sets
 *   `idle_in_transaction_session_timeout` to the lease ttl in its transactions, so PostgreSQL ends
 *   A's frozen transaction and B is not kept waiting: it catches up while A is frozen either way.
 */
describe('lease fencing of a stale owner frozen with SIGSTOP (PostgreSQL, real processes)', () => {
  const pg = usePostgresSchemas('fault_fence');
  const workers = useWorkers();
  let store: SqlEventStore | undefined;

  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it.each(['begin', 'write'] as const)(
    'a stale owner frozen mid-batch (stalled at %s) commits nothing after SIGCONT',
    async (stallAt) => {
      const schema = pg.schema();
      const pool = pg.pool();
      store = await createFaultStore(pool, schema);
      await seed(store, { accounts: 100, perAccount: 20 });
      const leaseTtlMs = 1000;

      // A owns the projection and stalls 400 ms in every batch transaction: it is mid-catch-up.
      const a = workers.start({
        schema,
        instance: 'stale-a',
        leaseTtlMs,
        batchSize: 20,
        stallMs: 400,
        stallAt,
      });
      const acquiredA = await a.waitFor((l) => l.t === 'acquired', 'A acquiring the lease');
      const b = workers.start({ schema, instance: 'fresh-b', leaseTtlMs, batchSize: 100 });
      await b.waitFor((l) => l.t === 'ready', 'B ready');
      await until(async () => ((await appliedBy(pool, schema))['stale-a'] ?? 0) >= 40, 'A progressing');

      // Freeze A right inside a batch transaction (the worker prints the stall, then sleeps 400 ms).
      const from = a.lines.length;
      await a.waitFor((l) => l.t === 'stall', 'a stall of A', 5000, from);
      a.signal('SIGSTOP');
      const stoppedAt = Date.now();
      await sleep(50);
      const frozen = (await appliedBy(pool, schema))['stale-a']!;
      const frozenCheckpoint = (await checkpoint(pool, schema))!;
      expect(frozenCheckpoint).toMatchObject({ owner: 'stale-a', token: acquiredA.token });
      expect(frozen).toBeLessThan(2000);

      // B takes over once A's lease has expired.
      const acquiredB = await b.waitFor((l) => l.t === 'acquired', 'B taking over', 10_000);
      expect(acquiredB.token).toBeGreaterThan(acquiredA.token as number);
      expect(acquiredB.at - stoppedAt).toBeGreaterThanOrEqual(leaseTtlMs / 2);
      expect(acquiredB.at - stoppedAt).toBeLessThan(5000);
      // B runs (catches up) while A is frozen, even when A froze holding row locks.
      await until(
        async () => ((await appliedBy(pool, schema))['fresh-b'] ?? 0) >= 2000 - frozen,
        `B catching up while A is frozen\n${b.describe()}`,
        15_000,
      );
      const caughtUpWhileFrozenMs = Date.now() - stoppedAt;
      expect((await appliedBy(pool, schema))['stale-a']).toBe(frozen);

      // Resume A while events keep coming: its batch cannot commit, B handles the new events.
      const resumedFrom = a.lines.length;
      a.signal('SIGCONT');
      const resumedAt = Date.now();
      const writer = startWriter(store, { accounts: 120, intervalMs: 10 });
      await sleep(1500);
      await writer.stop();

      const events = await readEvents(store);
      const lastPosition = events[events.length - 1]!.position;
      await untilCheckpointAt(pool, schema, lastPosition, 'B to catch up', 20_000, [a, b]);
      const final = (await checkpoint(pool, schema))!;
      expect(final).toMatchObject({
        position: lastPosition,
        owner: 'fresh-b',
        live: true,
        token: acquiredB.token,
      });
      const applied = await appliedBy(pool, schema);
      expect(applied['stale-a']).toBe(frozen);
      expect(applied['stale-a']! + applied['fresh-b']!).toBe(events.length);
      const actual = await readSqlModel(pool, schema);
      expect(sorted(actual)).toEqual(sorted(fold(events)));
      for (const [, doc] of actual.accounts) expect(doc.gaps).toBe(0);

      // A noticed it lost the lease, and stands by: alive, without taking the lease again.
      const lost = await a.waitFor(
        (l) => l.t === 'log' && String(l.message).includes('lease lost'),
        "A's 'lease lost' log after SIGCONT",
        5000,
        resumedFrom,
      );
      await sleep(300);
      if (!a.running) throw new Error(`A died after SIGCONT instead of standing by:\n${a.describe()}`);
      expect(a.of('acquired')).toHaveLength(1);
      expect(await b.stop()).toEqual({ code: 0, signal: null });
      expect(await a.stop()).toEqual({ code: 0, signal: null });
      const fenced = a.of('fenced').filter((l) => l.at >= resumedAt);
      process.stdout.write(
        `lease-fencing (stall at ${stallAt}): B took over ${acquiredB.at - stoppedAt} ms after SIGSTOP and ` +
          `caught up ${caughtUpWhileFrozenMs} ms after it; after SIGCONT A logged 'lease lost' in ` +
          `${lost.at - resumedAt} ms (${fenced.length} fenced commit(s))\n`,
      );
    },
    60_000,
  );
});
