import type { SqlEventStore } from 'potter/postgres';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import {
  checkpoint,
  createFaultStore,
  fold,
  readEvents,
  readSqlModel,
  seed,
  sleep,
  sorted,
  sqlTotals,
  until,
  untilCheckpointAt,
  useWorkers,
} from '../support/projection-fault';

/**
 * A worker process runs a transactional projection (hand-written SQL in the checkpoint's
 * transaction) over 50,000 stored events and is killed with SIGKILL at random points of its
 * catch-up, several times. After the last restart the read model equals the pure fold of the
 * events: each applied exactly once.
 */
describe('projection killed with SIGKILL during catch-up (PostgreSQL, real processes)', () => {
  const pg = usePostgresSchemas('fault_kill');
  const workers = useWorkers();
  let store: SqlEventStore | undefined;

  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('applies each of 50,000 events exactly once across 5 SIGKILLs and restarts', async () => {
    const schema = pg.schema();
    const pool = pg.pool();
    store = await createFaultStore(pool, schema);
    const started = Date.now();
    await seed(store, { accounts: 500, perAccount: 100, parallel: 8 });
    const events = await readEvents(store);
    expect(events).toHaveLength(50_000);
    const expected = fold(events);
    const seeded = Date.now();

    const KILLS = 5;
    const kills: number[] = [];
    let committed = 0;
    for (let round = 1; round <= KILLS; round++) {
      const worker = workers.start({ schema, instance: `kill-${round}`, batchSize: 250 });
      // Kill once it has committed a random amount of further progress, at a random moment.
      const target = committed + 1000 + Math.floor(Math.random() * 4000);
      await until(
        async () => (await sqlTotals(pool, schema)).events >= target,
        `round ${round}: ${target} events committed\n${worker.describe()}`,
        30_000,
        15,
      );
      await sleep(Math.random() * 60);
      await worker.kill();

      const totals = await sqlTotals(pool, schema);
      const cp = (await checkpoint(pool, schema))!;
      // Killed during catch-up, never moving backwards…
      expect(totals.events).toBeLessThan(events.length);
      expect(totals.events).toBeGreaterThanOrEqual(committed);
      // …and the read model holds exactly the events up to the checkpoint (same transaction).
      expect(totals.events).toBe(events.filter((event) => event.position <= cp.position).length);
      expect(cp.owner).toBe(`kill-${round}`);
      kills.push(totals.events);
      committed = totals.events;
    }

    const last = workers.start({ schema, instance: 'kill-final', batchSize: 250 });
    await untilCheckpointAt(
      pool,
      schema,
      events[events.length - 1]!.position,
      'the last worker to catch up',
      60_000,
      [last],
    );
    expect(await last.stop()).toEqual({ code: 0, signal: null });
    const finished = Date.now();

    const actual = await readSqlModel(pool, schema);
    expect(sorted(actual)).toEqual(sorted(expected));
    expect(actual.totals).toEqual({ events: 50_000, amount: expected.totals.amount });
    for (const [, doc] of actual.accounts) {
      expect(doc.gaps).toBe(0);
      expect(doc.maxVersion).toBe(doc.count);
    }
    // Every kill landed mid-catch-up, after progress.
    expect(kills).toHaveLength(KILLS);
    expect(new Set(kills).size).toBe(KILLS);
    process.stdout.write(
      `sigkill-catch-up: seeded 50,000 events in ${seeded - started} ms; kills at ${kills.join(', ')}; catch-up with kills ${finished - seeded} ms\n`,
    );
  }, 150_000);
});
