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
  txStates,
  violationsIn,
  type FaultTx,
} from './twopc-fault';

/**
 * Two-phase commit with a coordinator in a real process (test/fault/twopc/support/coordinator-worker.js,
 * running the compiled package: `npm run build` first), SqlCoordinatorLog on PostgreSQL, and three
 * participants keeping durable holds in PostgreSQL tables of their own. The coordinator is
 * SIGKILLed once every participant prepared — before the decision is logged, or after it is logged
 * and before any commit is sent — and a new coordinator process recovers: all participants end
 * committed (decision logged) or all rolled back (presumed abort), never a mix.
 */
describe('2PC coordinator killed with SIGKILL (PostgreSQL, real processes)', () => {
  const pg = usePostgresSchemas('fault_twopc');
  const workers = useProcessWorkers();
  const PARTICIPANTS = ['a', 'b', 'c'];

  async function setup(): Promise<string> {
    const schema = pg.schema();
    await createTwoPhaseSchema(pg.pool(), schema, PARTICIPANTS);
    return schema;
  }

  function coordinator(schema: string, owner: string, txs: FaultTx[], recover = false): ProcessWorker {
    return workers.start(
      COORDINATOR,
      coordinatorEnv(schema, owner, { local: PARTICIPANTS, txs, recover }),
      owner,
    );
  }

  /** Starts a recovering coordinator and waits until it finished every unfinished transaction. */
  async function recoverWith(schema: string, owner: string): Promise<ProcessWorker> {
    const recovering = coordinator(schema, owner, [], true);
    await lineOf(recovering, (line) => line.t === 'done', 'recovery done', 30_000);
    await recovering.exited;
    expect(recovering.of('error')).toEqual([]);
    return recovering;
  }

  async function killWhenPaused(worker: ProcessWorker, txId: string): Promise<void> {
    await lineOf(worker, (line) => line.t === 'paused' && line.txId === txId, `${txId} paused`);
    await worker.kill();
  }

  it('SIGKILL after every participant prepared and before the decision: recovery aborts on all (presumed abort)', async () => {
    const schema = await setup();
    const pool = pg.pool();
    const first = coordinator(schema, 'c1', [{ txId: 'warm-1' }, { txId: 'tx-1', pause: 'before-decide' }]);
    await killWhenPaused(first, 'tx-1');

    // At the kill: prepared everywhere, nothing decided.
    expect(await txStates(pool, schema, PARTICIPANTS, 'tx-1')).toEqual({
      holds: ['prepared', 'prepared', 'prepared'],
      committed: [false, false, false],
    });
    const log = logOf(pool, schema);
    const atKill = await log.get('tx-1');
    expect(atKill).toMatchObject({ completed: false, owner: 'c1' });
    expect(atKill?.decision).toBeUndefined();

    const recovering = await recoverWith(schema, 'c2');
    expect(recovering.of('recovered')).toEqual([
      expect.objectContaining({ txId: 'tx-1', outcome: 'aborted' }),
    ]);
    expect(await txStates(pool, schema, PARTICIPANTS, 'tx-1')).toEqual({
      holds: ['rolled_back', 'rolled_back', 'rolled_back'],
      committed: [false, false, false],
    });
    expect(await log.get('tx-1')).toMatchObject({ decision: 'abort', completed: true });
    // The transaction before it is untouched: committed on all, once.
    for (const name of PARTICIPANTS) expect(await committedOf(pool, schema, name)).toEqual(['warm-1']);
    expect(await violationsIn(pool, schema)).toEqual([]);
  });

  it('SIGKILL after the commit decision was logged and before any commit: recovery commits on all', async () => {
    const schema = await setup();
    const pool = pg.pool();
    const first = coordinator(schema, 'c1', [{ txId: 'tx-2', pause: 'after-decide' }]);
    await killWhenPaused(first, 'tx-2');

    const log = logOf(pool, schema);
    expect(await log.get('tx-2')).toMatchObject({ decision: 'commit', done: [], completed: false });
    expect(await txStates(pool, schema, PARTICIPANTS, 'tx-2')).toEqual({
      holds: ['prepared', 'prepared', 'prepared'],
      committed: [false, false, false],
    });

    const recovering = await recoverWith(schema, 'c2');
    expect(recovering.of('recovered')).toEqual([
      expect.objectContaining({ txId: 'tx-2', outcome: 'committed' }),
    ]);
    expect(await txStates(pool, schema, PARTICIPANTS, 'tx-2')).toEqual({
      holds: ['committed', 'committed', 'committed'],
      committed: [true, true, true],
    });
    expect(await log.get('tx-2')).toMatchObject({ decision: 'commit', completed: true });
    expect(await violationsIn(pool, schema)).toEqual([]);
  });

  it('a participant that fails prepare makes every participant roll back, also across a SIGKILL after the abort decision', async () => {
    const schema = await setup();
    const pool = pg.pool();
    const first = coordinator(schema, 'c1', [
      { txId: 'tx-3', fail: ['b'] },
      { txId: 'tx-4' },
      { txId: 'tx-5', fail: ['c'], pause: 'after-decide' },
    ]);
    await killWhenPaused(first, 'tx-5');

    expect(first.of('result').map((l) => [l.txId, l.outcome, l.votes])).toEqual([
      ['tx-3', 'aborted', ['yes', 'no', 'yes']],
      ['tx-4', 'committed', ['yes', 'yes', 'yes']],
    ]);
    expect(await txStates(pool, schema, PARTICIPANTS, 'tx-3')).toEqual({
      holds: ['rolled_back', 'rolled_back', 'rolled_back'],
      committed: [false, false, false],
    });
    // tx-5: c voted no, abort is logged, no rollback was sent before the kill.
    const log = logOf(pool, schema);
    expect(await log.get('tx-5')).toMatchObject({ decision: 'abort', done: [], completed: false });
    expect((await holdsOf(pool, schema, 'a')).get('tx-5')).toBe('prepared');
    expect((await holdsOf(pool, schema, 'c')).get('tx-5')).toBeUndefined();

    await recoverWith(schema, 'c2');
    expect(await txStates(pool, schema, PARTICIPANTS, 'tx-5')).toEqual({
      holds: ['rolled_back', 'rolled_back', 'rolled_back'],
      committed: [false, false, false],
    });
    for (const name of PARTICIPANTS) expect(await committedOf(pool, schema, name)).toEqual(['tx-4']);
    expect(await violationsIn(pool, schema)).toEqual([]);
  });
});
