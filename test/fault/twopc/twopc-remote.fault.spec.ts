import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { TwoPhaseMessageClient } from 'potter';
import { RedisMessageBus } from 'potter/redis';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import { redisUrl, serviceUnavailable } from '../../support/services';
import { useProcessWorkers } from '../support/messaging-fault';
import {
  COORDINATOR,
  PARTICIPANT,
  coordinatorEnv,
  createTwoPhaseSchema,
  lineOf,
  logOf,
  participantEnv,
  txStates,
  until,
  violationsIn,
} from './twopc-fault';

/**
 * A participant in its own process, reached over Redis Streams (MessageBusParticipant ↔
 * serveTwoPhaseParticipant), with its durable holds in PostgreSQL; the coordinator in another
 * process (compiled package: `npm run build` first). The participant process is SIGKILLed after it
 * voted yes and before the commit (an in-doubt participant's outcome question, across Redis, is
 * answered by the coordinator process meanwhile): the coordinator re-sends the commit (each attempt times out)
 * until the participant process is restarted, which then commits — and the transaction completes.
 */
describe('2PC with a remote participant that is down during commit (Redis, PostgreSQL, real processes)', () => {
  const pg = usePostgresSchemas('fault_twopc_remote');
  const workers = useProcessWorkers();
  const prefix = `potter-fault:twopc:${randomUUID()}`;
  let redis: ReturnType<typeof createClient>;

  beforeAll(async () => {
    redis = createClient({ url: redisUrl(), socket: { connectTimeout: 5_000, reconnectStrategy: false } });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
    } catch (error) {
      throw serviceUnavailable('Redis', redisUrl(), error);
    }
  });

  afterAll(async () => {
    if (!redis?.isOpen) return;
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) await redis.del(keys);
    }
    await redis.close();
  });

  it('re-sends commit to the SIGKILLed participant process until it is restarted, then completes', async () => {
    const schema = pg.schema();
    const pool = pg.pool();
    await createTwoPhaseSchema(pool, schema, ['a', 'r']);
    const PARTICIPANTS = ['a', 'r'];

    const remote = workers.start(PARTICIPANT, participantEnv(schema, 'r', prefix), 'participant r');
    await lineOf(remote, (line) => line.t === 'ready', 'participant ready');
    const coordinator = workers.start(
      COORDINATOR,
      coordinatorEnv(schema, 'c1', {
        local: ['a'],
        remote: ['r'],
        topicPrefix: prefix,
        txs: [{ txId: 'warm-1' }, { txId: 'tx-1', pause: 'gate-after-decide' }, { txId: 'tx-2' }],
      }),
      'coordinator',
    );
    // The commit decision of tx-1 is logged: the coordinator holds it until the test says go.
    await lineOf(coordinator, (line) => line.t === 'paused' && line.txId === 'tx-1', 'tx-1 decided');
    expect(remote.of('prepared').map((line) => line.txId)).toEqual(['warm-1', 'tx-1']);
    const log = logOf(pool, schema);
    expect(await log.get('tx-1')).toMatchObject({ decision: 'commit', done: [] });

    await remote.kill(); // the participant process dies, prepared
    // An in-doubt participant asks the coordinator process across Redis: the decision is commit.
    const bus = new RedisMessageBus({ url: redisUrl(), blockMs: 200 });
    const asker = new TwoPhaseMessageClient({
      bus,
      replyTopic: `${prefix}.replies-asker`,
      outcomeTopic: `${prefix}.outcomes`,
      timeoutMs: 10_000,
    });
    try {
      await expect(asker.outcome('tx-1')).resolves.toBe('commit');
      await expect(asker.outcome('never-begun')).resolves.toBe('abort');
    } finally {
      await asker.close();
      await bus.close();
    }
    coordinator.child.stdin.write('go\n');

    // The commit to r is re-sent, each attempt timing out: wait for three re-sends.
    const resends = (): number =>
      coordinator
        .of('log')
        .filter(
          (line) =>
            line.message === 'Two-phase participant did not confirm; re-sending' &&
            (line.fields as { participant?: string }).participant === 'r',
        ).length;
    await coordinator.until(() => resends() >= 3, 'three commit re-sends to r', 20_000);
    expect(await txStates(pool, schema, PARTICIPANTS, 'tx-1')).toEqual({
      holds: ['committed', 'prepared'],
      committed: [true, false],
    });
    expect(await log.get('tx-1')).toMatchObject({ decision: 'commit', done: ['a'], completed: false });
    expect(coordinator.of('result').map((line) => line.txId)).toEqual(['warm-1']);

    // The participant process comes back (same consumer group): it commits, the coordinator completes.
    const restarted = workers.start(PARTICIPANT, participantEnv(schema, 'r', prefix), 'participant r (2)');
    await lineOf(restarted, (line) => line.t === 'ready', 'participant ready again');
    await lineOf(coordinator, (line) => line.t === 'done', 'the coordinator done', 30_000);
    expect(coordinator.of('result').map((line) => [line.txId, line.outcome])).toEqual([
      ['warm-1', 'committed'],
      ['tx-1', 'committed'],
      ['tx-2', 'committed'],
    ]);
    await until(async () => (await log.get('tx-1'))?.completed === true, 'tx-1 completed');
    for (const txId of ['warm-1', 'tx-1', 'tx-2']) {
      expect(await txStates(pool, schema, PARTICIPANTS, txId)).toEqual({
        holds: ['committed', 'committed'],
        committed: [true, true],
      });
    }
    expect(resends()).toBeGreaterThanOrEqual(3);
    expect(await violationsIn(pool, schema)).toEqual([]);
    expect(coordinator.of('error')).toEqual([]);
  });
});
