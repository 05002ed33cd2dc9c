import { usePostgresSchemas } from '../support/postgres-schemas';
import { sleep, useProcessWorkers, type ProcessWorker } from './support/messaging-fault';
import {
  allSettled,
  begunBy,
  beginsOn,
  checkReadModel,
  checkSagas,
  createSagaSchema,
  dbNow,
  inFlightOf,
  notHeldBy,
  statuses,
  toCompensate,
  until,
  workerEnv,
} from './saga-fault';

/**
 * Sagas on PostgreSQL run by real processes (test/fault/support/saga-worker.js, running the
 * compiled package: `npm run build` first) that are killed with SIGKILL at random points, during steps and during compensations. Each step's execute and
 * compensate goes to an idempotent participant keyed by the idempotency key, which also logs every
 * attempt without deduplication. After the last restart every saga is completed or fully
 * compensated (in reverse order), every effect happened exactly once, and the log shows that steps
 * and compensations were re-run after the kills (deduplicated by the key).
 */
describe('sagas killed with SIGKILL (PostgreSQL, real processes)', () => {
  const pg = usePostgresSchemas('fault_saga');
  const workers = useProcessWorkers();
  const WORKER = 'saga-worker.js';
  let started: ProcessWorker[] = [];

  beforeEach(() => {
    started = [];
  });

  function spawnWorker(env: Record<string, string>, name: string): ProcessWorker {
    const worker = workers.start(WORKER, env, name);
    started.push(worker);
    return worker;
  }

  /**
   * What the workers logged: errors (a saga stopped on an error) and starts that failed otherwise
   * than with a conflict (the saga exists) fail the test; warnings are counted.
   */
  function workerLogs(): { errors: unknown[]; warnings: Record<string, number> } {
    const logs = started.flatMap((worker) => worker.of('log'));
    const startFailures = started.flatMap((worker) => worker.of('start-failed'));
    const warnings: Record<string, number> = {};
    for (const log of logs.filter((l) => l.level === 'warn')) {
      const message = String(log.message);
      warnings[message] = (warnings[message] ?? 0) + 1;
    }
    return { errors: [...logs.filter((l) => l.level === 'error'), ...startFailures], warnings };
  }

  async function stopGracefully(worker: ProcessWorker): Promise<unknown> {
    worker.signal('SIGTERM');
    const timer = setTimeout(() => worker.signal('SIGKILL'), 15_000);
    try {
      return await worker.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  it('completes or compensates 200 sagas exactly once across 6 SIGKILLs and restarts', async () => {
    const schema = pg.schema();
    const pool = pg.pool();
    await createSagaSchema(pool, schema);
    const COUNT = 200;
    const KILLS = 6;
    // Rounds whose kill waits for a compensation in flight, if compensations remain to run (the
    // others kill at a random point).
    const COMPENSATION_ROUNDS = new Set([2, 4]);
    const leaseMs = 1500;
    const started = Date.now();
    const kills: {
      round: number;
      begun: number;
      statuses: Record<string, number>;
      stored: number;
      unfinished: number;
      inFlight: { execute: number; compensate: number };
    }[] = [];

    for (let round = 1; round <= KILLS; round++) {
      const instance = `kill-${round}`;
      // Each instance (re)starts the sagas that do not exist yet, as a client retrying its requests
      // would: the first one is likely killed while starting them.
      const worker = spawnWorker(workerEnv(schema, instance, { leaseMs, start: [0, COUNT] }), instance);
      // Kill once it works: it started sagas (round 1), or took over every saga of the killed one…
      await until(
        async () =>
          round === 1
            ? (await begunBy(pool, schema, instance)) > 0
            : (await notHeldBy(pool, schema, instance)) === 0,
        `round ${round}: ${instance} at work`,
        30_000,
        [worker],
        async () => JSON.stringify(await statuses(pool, schema)),
      );
      if (COMPENSATION_ROUNDS.has(round) && (await toCompensate(pool, schema)) > 0) {
        // …while a compensation runs (begun within 100 ms: it works 240 ms at least)…
        await until(
          async () => (await inFlightOf(pool, schema, instance, 100)).compensate > 0,
          `round ${round}: a compensation in flight on ${instance}`,
          30_000,
          [worker],
          async () => JSON.stringify(await statuses(pool, schema)),
        );
        await sleep(Math.random() * 20);
      } else {
        // …or at a random moment.
        await sleep(Math.random() * 1000);
      }
      await worker.kill();
      const inFlight = await inFlightOf(pool, schema, instance);
      const now = await statuses(pool, schema);
      kills.push({
        round,
        begun: await begunBy(pool, schema, instance),
        statuses: now,
        stored: Object.values(now).reduce((sum, n) => sum + n, 0),
        unfinished: (now.pending ?? 0) + (now.running ?? 0) + (now.compensating ?? 0),
        inFlight,
      });
    }

    const last = spawnWorker(workerEnv(schema, 'final', { leaseMs, start: [0, COUNT] }), 'final');
    await until(
      () => allSettled(pool, schema, COUNT),
      'every saga to settle after the last restart',
      60_000,
      [last],
      async () => JSON.stringify(await statuses(pool, schema)),
    );
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });
    const finished = Date.now();

    const report = await checkSagas(pool, schema, COUNT);
    const logs = workerLogs();
    process.stdout.write(
      `saga-sigkill: ${COUNT} sagas, ${KILLS} kills in ${finished - started} ms; ` +
        `kills ${JSON.stringify(kills)}; ${report.begun} attempts begun, re-run ${JSON.stringify(report.rerunAttempts)}, ` +
        `deduplicated ${JSON.stringify(report.duplicates)}; warnings ${JSON.stringify(logs.warnings)}\n`,
    );
    expect(report.problems).toEqual([]);
    expect(report.statuses).toEqual({ completed: 120, compensated: 80 });
    // The saga read model, projected from the events recorded with each write, matches every
    // saga's true state after the kills and restarts.
    expect(await checkReadModel(pool, schema)).toEqual([]);
    // Every kill landed while sagas were unfinished; most cut attempts short (one at a random moment
    // may come before the new instance ran anything again), some cut compensations short.
    expect(kills).toHaveLength(KILLS);
    expect(kills.filter((kill) => kill.unfinished === 0)).toEqual([]);
    const cutShort = kills.filter((kill) => kill.inFlight.execute + kill.inFlight.compensate > 0);
    expect(cutShort.length).toBeGreaterThanOrEqual(KILLS / 2);
    expect(kills.filter((kill) => kill.inFlight.compensate > 0).length).toBeGreaterThanOrEqual(1);
    // Recovery was exercised: attempts (steps and compensations) were run again after the kills,
    // and some re-runs found their effect applied already (the idempotency key kept it once).
    expect(report.rerunAttempts.execute).toBeGreaterThan(0);
    expect(report.rerunAttempts.compensate).toBeGreaterThan(0);
    expect(report.duplicates.execute + report.duplicates.compensate).toBeGreaterThan(0);
    expect(logs.errors).toEqual([]);
  }, 150_000);

  it('a second process takes over the sagas of a SIGKILLed one; every effect once', async () => {
    const schema = pg.schema();
    const pool = pg.pool();
    await createSagaSchema(pool, schema);
    const COUNT = 120;
    const leaseMs = 3000;
    const a = spawnWorker(workerEnv(schema, 'node-a', { leaseMs, start: [0, 60] }), 'node-a');
    const b = spawnWorker(workerEnv(schema, 'node-b', { leaseMs, start: [60, COUNT] }), 'node-b');
    await Promise.all([
      a.until(() => a.of('started').length > 0, 'node-a started its sagas', 30_000),
      b.until(() => b.of('started').length > 0, 'node-b started its sagas', 30_000),
    ]);
    // node-a is killed with steps and compensations in flight (at a random moment once it has both).
    await until(
      async () => {
        const inFlight = await inFlightOf(pool, schema, 'node-a');
        return inFlight.compensate > 0 && inFlight.execute > 0;
      },
      'steps and compensations in flight on node-a',
      30_000,
      [a, b],
    );
    await sleep(Math.random() * 300);
    const aliveUntil = await dbNow(pool);
    await a.kill();
    const { rows: orphans } = await pool.query<{ saga_id: string }>(
      `SELECT saga_id FROM "${schema}".sagas WHERE owner = 'node-a' AND status IN ('pending', 'running', 'compensating')`,
    );
    expect(orphans.length).toBeGreaterThan(0);

    await until(
      () => allSettled(pool, schema, COUNT),
      'node-b to finish every saga',
      60_000,
      [b],
      async () => JSON.stringify(await statuses(pool, schema)),
    );
    expect(await stopGracefully(b)).toEqual({ code: 0, signal: null });

    const report = await checkSagas(pool, schema, COUNT);
    expect(report.problems).toEqual([]);
    expect(report.statuses).toEqual({ completed: 72, compensated: 48 });
    expect(await checkReadModel(pool, schema)).toEqual([]);
    // node-b ran node-a's orphans, and only once node-a was dead (never both at once).
    const takeover = await beginsOn(
      pool,
      schema,
      'node-b',
      orphans.map((row) => row.saga_id),
    );
    expect(takeover.length).toBeGreaterThan(0);
    expect(takeover.filter((at) => at <= aliveUntil)).toEqual([]);
    expect(report.rerunAttempts.execute + report.rerunAttempts.compensate).toBeGreaterThan(0);
    const logs = workerLogs();
    expect(logs.errors).toEqual([]);
    process.stdout.write(
      `saga-takeover: ${orphans.length} sagas of node-a taken over; ${report.begun} attempts begun, ` +
        `re-run ${JSON.stringify(report.rerunAttempts)}; warnings ${JSON.stringify(logs.warnings)}\n`,
    );
  }, 120_000);
});
