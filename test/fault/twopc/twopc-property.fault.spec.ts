import fc from 'fast-check';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import { useProcessWorkers, type ProcessWorker } from '../support/messaging-fault';
import {
  COORDINATOR,
  committedOf,
  coordinatorEnv,
  createTwoPhaseSchema,
  holdsOf,
  lineOf,
  logOf,
  violationsIn,
  type FaultTx,
} from './twopc-fault';

/**
 * Property (fast-check, real processes, PostgreSQL): a coordinator process runs N transactions (4
 * at a time) over three participants with durable PostgreSQL holds (each call sleeps 5–40 ms first,
 * so transactions are in flight most of the time), some of which refuse to prepare, and is SIGKILLed several times at random points — after a random number of further
 * transactions began plus a random delay, so kills land in prepare, decide, commit and recovery —
 * and restarted each time (it recovers what the dead one left, once its lease expired, and goes on
 * with the transactions not begun yet). After the last restart finished everything: every
 * participant committed exactly the same set of transactions, which is the set the log decided to
 * commit; nothing is left prepared; no refused transaction committed; no participant saw a
 * contract breach.
 */
describe('2PC coordinator SIGKILLed at random points, restarted and recovered (property, PostgreSQL)', () => {
  const pg = usePostgresSchemas('fault_twopc_prop');
  const workers = useProcessWorkers();
  const PARTICIPANTS = ['a', 'b', 'c'];
  const N = 40;
  const totals = { kills: 0, recovered: 0, committed: 0, aborted: 0 };

  const scenario = fc.record({
    /** Per transaction, the participants that refuse to prepare (mostly none). */
    refusals: fc.array(
      fc.oneof(
        { weight: 4, arbitrary: fc.constant<string[]>([]) },
        { weight: 1, arbitrary: fc.subarray(PARTICIPANTS, { minLength: 1 }) },
      ),
      { minLength: N, maxLength: N },
    ),
    /** Each kill: wait for this many more transactions to begin, then this many ms. */
    kills: fc.array(
      fc.record({ begins: fc.integer({ min: 0, max: 6 }), delayMs: fc.integer({ min: 0, max: 150 }) }),
      {
        minLength: 3,
        maxLength: 4,
      },
    ),
  });

  function start(schema: string, owner: string, txs: FaultTx[]): ProcessWorker {
    return workers.start(
      COORDINATOR,
      coordinatorEnv(schema, owner, {
        local: PARTICIPANTS,
        txs,
        recover: true,
        concurrency: 4,
        leaseMs: 1000,
        prepareMs: 500,
        participantMs: [5, 40],
      }),
      owner,
    );
  }

  it('keeps every participant identical across random kills and restarts', async () => {
    const pool = pg.pool();
    await fc.assert(
      fc.asyncProperty(scenario, async ({ refusals, kills }) => {
        const schema = pg.schema();
        await createTwoPhaseSchema(pool, schema, PARTICIPANTS);
        const txs: FaultTx[] = refusals.map((fail, i) => ({
          txId: `tx-${String(i).padStart(3, '0')}`,
          ...(fail.length > 0 ? { fail } : {}),
        }));
        const lives: ProcessWorker[] = [];
        let begun = 0;
        for (const [round, kill] of kills.entries()) {
          const worker = start(schema, `c${round}`, txs);
          lives.push(worker);
          await lineOf(worker, (line) => line.t === 'ready', 'ready');
          const target = Math.min(begun + kill.begins, N);
          // Condition first (a number of transactions begun), then a random delay: kills land anywhere.
          await worker.until(
            () => begun + worker.of('begin').length >= target || worker.of('done').length > 0,
            `${target} transactions begun`,
            20_000,
          );
          await new Promise((resolve) => setTimeout(resolve, kill.delayMs));
          await worker.kill();
          begun += worker.of('begin').length;
          totals.kills++;
        }
        const last = start(schema, 'final', txs);
        lives.push(last);
        await lineOf(last, (line) => line.t === 'done', 'the final coordinator done', 40_000);
        await last.exited;
        for (const worker of lives) expect(worker.of('error')).toEqual([]);
        totals.recovered += lives.reduce((n, worker) => n + worker.of('recovered').length, 0);

        // Every transaction is in the log, finished.
        const log = logOf(pool, schema);
        expect(await log.unfinished()).toEqual([]);
        const decided = new Map<string, string | undefined>();
        for (const tx of txs) {
          const record = await log.get(tx.txId);
          expect(record).toMatchObject({ completed: true });
          decided.set(tx.txId, record?.decision);
        }
        const commits = txs.filter((tx) => decided.get(tx.txId) === 'commit').map((tx) => tx.txId);
        // Identical committed sets, equal to the log's commit decisions.
        for (const name of PARTICIPANTS) expect(await committedOf(pool, schema, name)).toEqual(commits);
        // Nothing left prepared; refused transactions never committed.
        for (const name of PARTICIPANTS) {
          const prepared = [...(await holdsOf(pool, schema, name))].filter(
            ([, state]) => state === 'prepared',
          );
          expect(prepared).toEqual([]);
        }
        for (const tx of txs) if (tx.fail) expect(decided.get(tx.txId)).toBe('abort');
        expect(await violationsIn(pool, schema)).toEqual([]);
        totals.committed += commits.length;
        totals.aborted += N - commits.length;
      }),
      { numRuns: 4, endOnFailure: true },
    );
    // The kills did interrupt transactions that recovery had to finish.
    expect(totals.kills).toBeGreaterThanOrEqual(12);
    // With 4 transactions in flight most of the time, nearly every kill interrupts some.
    expect(totals.recovered).toBeGreaterThanOrEqual(totals.kills);
    expect(totals.committed).toBeGreaterThan(0);
  }, 180_000);
});
