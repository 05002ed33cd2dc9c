import { Event, EventHandler, Projection, ProjectionEngine } from 'potter';
import { SqlProjectionStore, SqlReadModelStore, type SqlEventStore } from 'potter/postgres';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import {
  EVENT_TYPE,
  PROJECTION,
  checkpoint,
  createFaultStore,
  docsTotals,
  fold,
  readDocsModel,
  readEvents,
  seed,
  sleep,
  sorted,
  startWriter,
  until,
  untilCheckpointAt,
  useWorkers,
} from '../support/projection-fault';

@Event(EVENT_TYPE)
class Deposited {
  constructor(
    readonly account: string,
    readonly amount: number,
  ) {}
}

/** The worker's projection as seen by an operator's process: registered to send requests, never started. */
@Projection(PROJECTION)
class FaultSumsRemote {
  @EventHandler(Deposited)
  onDeposited(): void {
    throw new Error('The operator engine never runs the projection.');
  }
}

/**
 * A worker process runs an additive projection into document read models (`ctx.readModel()`, in
 * the checkpoint's transaction) while a writer appends continuously. An operator's engine (this
 * process, same stores, not running the projection) requests a rebuild, which the owner carries
 * out. Once the writer stops and the projection has caught up, the read model equals a build from
 * scratch: the pure fold of every stored event (a double-applied or lost event would show).
 */
describe('rebuild under live appends (PostgreSQL, real process)', () => {
  const pg = usePostgresSchemas('fault_rebuild');
  const workers = useWorkers();
  let store: SqlEventStore | undefined;

  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it.each([
    ['plain', false],
    ['blue/green', true],
  ] as const)(
    '%s rebuild while events are appended equals a from-scratch build',
    async (_kind, blueGreen) => {
      const schema = pg.schema();
      const pool = pg.pool();
      store = await createFaultStore(pool, schema);
      await seed(store, { accounts: 100, perAccount: 25 });
      const operator = new ProjectionEngine({
        eventStore: store,
        store: SqlProjectionStore.for(store),
        readModels: SqlReadModelStore.for(store),
        instanceId: 'operator',
      }).register(new FaultSumsRemote());

      const worker = workers.start({
        schema,
        instance: 'runner',
        model: 'docs',
        leaseTtlMs: 1500,
        batchSize: 100,
      });
      await operator.waitUntilCaughtUp(PROJECTION, { timeoutMs: 30_000 });
      const before = await docsTotals(store);
      expect(before.events).toBe(2500);

      const writer = startWriter(store, { accounts: 120, intervalMs: 40, maxBatch: 3 });
      const readerSees: number[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          readerSees.push((await docsTotals(store!)).events);
          await sleep(20);
        }
      })();
      const timing = { started: 0, finished: 0 };
      try {
        await sleep(300);
        const requestedFrom = worker.lines.length;
        timing.started = Date.now();
        await operator.rebuild(PROJECTION, { blueGreen });
        // The owner carries the request out…
        await worker.waitFor(
          (l) =>
            l.t === 'log' &&
            l.message === `Projection ${PROJECTION}: rebuild${blueGreen ? ' (blue/green)' : ''}`,
          'the rebuild to start on the owner',
          5000,
          requestedFrom,
        );
        // …and replays while the writer goes on; the writer stops a little after the replay caught up.
        if (blueGreen) {
          await worker.waitFor(
            (l) => l.t === 'log' && l.message === `Projection ${PROJECTION}: generation 2 is live`,
            'the swap to generation 2',
            30_000,
            requestedFrom,
          );
        } else {
          await until(async () => (await docsTotals(store!)).events < before.events, 'the reset', 5000, 5);
          await until(
            async () => (await docsTotals(store!)).events > before.events,
            'the replay',
            30_000,
            20,
          );
        }
        timing.finished = Date.now();
        await sleep(500);
        // The writer must have appended enough around the rebuild (a fast replay on a slow writer
        // once left it at 96): keep it going until it has, rather than hoping the timing allows.
        await until(async () => writer.written() > 100, 'the writer to append 100 events', 30_000, 20);
      } finally {
        await writer.stop();
        sampling = false;
        await sampler;
      }
      expect(writer.written()).toBeGreaterThan(100);

      await operator.waitUntilCaughtUp(PROJECTION, { timeoutMs: 30_000 });
      const events = await readEvents(store);
      await untilCheckpointAt(pool, schema, events[events.length - 1]!.position, 'the catch-up', 20_000, [
        worker,
      ]);
      const actual = await readDocsModel(store);
      expect(sorted(actual)).toEqual(sorted(fold(events)));
      for (const [, doc] of actual.accounts) {
        expect(doc.gaps).toBe(0);
        expect(doc.maxVersion).toBe(doc.count);
      }
      const cp = (await checkpoint(pool, schema))!;
      expect(cp).toMatchObject({
        position: events[events.length - 1]!.position,
        owner: 'runner',
        shadow: null,
        request: null,
        status: 'running',
      });
      if (blueGreen) {
        // Readers never saw a half-built model: what they saw only grew, through the swap.
        expect(readerSees.length).toBeGreaterThan(20);
        for (let i = 1; i < readerSees.length; i++)
          expect(readerSees[i]).toBeGreaterThanOrEqual(readerSees[i - 1]!);
        expect(cp.generation).toBe(2);
        // The old generation was dropped.
        const { rows } = await pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM "${schema}".read_models WHERE generation = 1`,
        );
        expect(Number(rows[0]!.n)).toBe(0);
      } else {
        // Readers saw the reset (a plain rebuild rebuilds in place).
        expect(Math.min(...readerSees)).toBeLessThan(before.events);
        expect(cp.generation).toBe(1);
      }
      expect(await worker.stop()).toEqual({ code: 0, signal: null });
      const kind = blueGreen ? 'blue/green' : 'plain';
      const replayMs = timing.finished - timing.started;
      process.stdout.write(
        `rebuild-live (${kind}): replayed ${before.events}+ events in ${replayMs} ms while ` +
          `${writer.written()} events were appended; final ${events.length} events\n`,
      );
    },
    60_000,
  );
});
