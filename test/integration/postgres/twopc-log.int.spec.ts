import { Pool } from 'pg';
import { migrateEventStore, PgSqlClient } from 'potter/postgres';
import { SqlCoordinatorLog } from '../../../src/twopc/sql';
import { TwoPhaseCoordinator } from '../../../src/twopc';
import {
  describeCoordinatorLogContract,
  FakeParticipant,
  lease,
  txId,
} from '../../contracts/twopc-log.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import { postgresUrl } from '../../support/services';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Every schema this file creates starts with this prefix; all are dropped at the end.
const pg = usePostgresSchemas('twopc', { max: 16 });

// Leases and ages run on the database clock: the suite lets time pass by sleeping.
describeCoordinatorLogContract('PostgreSQL', async () => {
  const schema = pg.schema();
  const client = new PgSqlClient({ pool: pg.pool() });
  await migrateEventStore(client, { schema });
  const pools: Pool[] = [];
  return {
    log: new SqlCoordinatorLog(client, { schema }),
    others: async (count) => {
      const created = Array.from(
        { length: count },
        () => new Pool({ connectionString: postgresUrl(), max: 2 }),
      );
      pools.push(...created);
      // Open the connections first, so that the claims really run side by side.
      await Promise.all(created.map((pool) => pool.query('SELECT 1')));
      return created.map((pool) => new SqlCoordinatorLog(new PgSqlClient({ pool }), { schema }));
    },
    elapse: sleep,
    cleanup: async () => {
      await Promise.all(pools.map((pool) => pool.end()));
    },
  };
});

describe('SqlCoordinatorLog on PostgreSQL', () => {
  async function newLog(suffix: string): Promise<{ log: SqlCoordinatorLog; schema: string }> {
    const schema = pg.schema(suffix);
    const client = new PgSqlClient({ pool: pg.pool() });
    await migrateEventStore(client, { schema });
    return { log: SqlCoordinatorLog.for({ client, schema }), schema };
  }

  it('writes its rows with database times, a lease on the database clock and the decision', async () => {
    const { log, schema } = await newLog('rows');
    const id = txId();
    await log.begin(id, ['stock', 'payment'], lease('c1', 60_000));
    await log.decide(id, 'commit');
    await log.markDone(id, 'payment');
    const { rows } = await pg.pool().query(
      `SELECT participants, done, decision, owner,
              extract(epoch FROM lease_expires_at - now()) * 1000 AS ahead,
              decided_at >= begun_at AS ordered, completed_at
         FROM "${schema}".twopc_transactions`,
    );
    expect(rows).toHaveLength(1);
    const row = rows[0] as Record<string, unknown>;
    expect(row).toMatchObject({
      participants: ['stock', 'payment'],
      done: ['payment'],
      decision: 'commit',
      owner: 'c1',
      ordered: true,
      completed_at: null,
    });
    expect(Number(row.ahead)).toBeGreaterThan(55_000);
    expect(Number(row.ahead)).toBeLessThanOrEqual(60_000);
    await log.complete(id);
    await expect(log.purge(new Date(Date.now() - 60_000))).resolves.toBe(0);
    await expect(log.purge(new Date(Date.now() + 60_000))).resolves.toBe(1);
    await expect(log.get(id)).resolves.toBeUndefined();
  });

  it('lets exactly one of two racing decisions win across connections, 30 times', async () => {
    const { schema } = await newLog('race');
    const pools = [0, 1].map(() => new Pool({ connectionString: postgresUrl(), max: 2 }));
    try {
      const [left, right] = pools.map((pool) => new SqlCoordinatorLog(new PgSqlClient({ pool }), { schema }));
      for (let round = 0; round < 30; round++) {
        const id = txId();
        await left!.begin(id, ['a'], lease('c'));
        const answers = await Promise.all([left!.decide(id, 'commit'), right!.decide(id, 'abort')]);
        expect(answers[0]).toBe(answers[1]);
      }
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('runs transactions end to end and recovers a crashed one with a new coordinator', async () => {
    const { log } = await newLog('coordinator');
    const a = new FakeParticipant('a');
    const b = new FakeParticipant('b');
    const coordinator = new TwoPhaseCoordinator({
      log,
      participants: [a, b],
      prepareTimeoutMs: 5_000,
      leaseMs: 15_000,
    });
    b.vote = 'no';
    await expect(coordinator.execute({ txId: 'refused' })).resolves.toMatchObject({ outcome: 'aborted' });
    b.vote = 'yes';
    b.failCommits = 2;
    const committed = coordinator.execute({
      txId: 'retried',
      payload: { n: 1 },
    });
    await expect(committed).resolves.toMatchObject({ outcome: 'committed' });
    // Crash between decision and commit: the log has the decision only.
    await log.begin('crashed', ['a', 'b'], lease('dead', 100));
    for (const p of [a, b]) await p.prepare('crashed', undefined, new AbortController().signal);
    await log.decide('crashed', 'commit');
    await sleep(300);
    await expect(new TwoPhaseCoordinator({ log }).recover([a, b])).resolves.toEqual({
      recovered: [{ txId: 'crashed', outcome: 'committed' }],
      skipped: [],
    });
    expect([a.states.get('refused'), b.states.get('refused')]).toEqual(['rolled-back', 'rolled-back']);
    expect([a.states.get('retried'), b.states.get('retried')]).toEqual(['committed', 'committed']);
    expect([a.states.get('crashed'), b.states.get('crashed')]).toEqual(['committed', 'committed']);
    await expect(log.unfinished()).resolves.toEqual([]);
  });
});
