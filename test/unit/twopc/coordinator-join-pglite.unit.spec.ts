import { migrateEventStore, PGliteSqlClient, SqlCoordinatorLog } from 'potter/pglite';
import { TwoPhaseCoordinator } from '../../../src/twopc/coordinator';
import { FakeParticipant, lease } from '../../contracts/twopc-log.contract';

// Run-or-join on the SQL log (PGlite): leases on the database clock, real timers. Every wait below
// ends when the condition it waits for is met (a lease runs out), never on a fixed sleep.
let client: PGliteSqlClient;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
  await migrateEventStore(client, { schema: 'twopc_join' });
}, 60_000);

afterAll(async () => {
  await client?.close();
});

function setup() {
  const log = new SqlCoordinatorLog(client, { schema: 'twopc_join' });
  const a = new FakeParticipant('a');
  const b = new FakeParticipant('b');
  const coordinator = new TwoPhaseCoordinator({
    log,
    participants: [a, b],
    owner: 'joiner',
    prepareTimeoutMs: 200,
    leaseMs: 400,
    retry: { initialDelayMs: 20, maxDelayMs: 50, jitter: 'none' },
  });
  return { log, a, b, coordinator };
}

describe('TwoPhaseCoordinator join on PGlite', () => {
  it('runs a new transaction, then joins it from the log when it is completed', async () => {
    const { a, coordinator } = setup();
    await expect(coordinator.execute({ txId: 'j1', join: true })).resolves.toMatchObject({
      outcome: 'committed',
    });
    await expect(coordinator.execute({ txId: 'j1', join: true })).resolves.toEqual({
      txId: 'j1',
      outcome: 'committed',
      votes: [],
      joined: true,
    });
    expect(a.calls).toEqual(['prepare j1', 'commit j1']);
  });

  it('waits out the lease of a coordinator that died undecided, then aborts; a late commit decision loses', async () => {
    const { log, a, b, coordinator } = setup();
    await log.begin('j2', ['a', 'b'], lease('dead', 300));
    await a.prepare('j2', undefined, new AbortController().signal);
    const result = await coordinator.execute({ txId: 'j2', join: true });
    expect(result).toEqual({ txId: 'j2', outcome: 'aborted', votes: [], joined: true });
    expect(a.states.get('j2')).toBe('rolled-back');
    expect(b.calls).toEqual(['rollback j2']);
    await expect(log.decide('j2', 'commit')).resolves.toBe('abort');
    await expect(log.get('j2')).resolves.toMatchObject({ decision: 'abort', completed: true });
  });

  it('finishes a commit decision whose coordinator died, re-sending only to the participant that did not confirm', async () => {
    const { log, a, b, coordinator } = setup();
    await log.begin('j3', ['a', 'b'], lease('dead', 300));
    for (const p of [a, b]) await p.prepare('j3', undefined, new AbortController().signal);
    await log.decide('j3', 'commit');
    await a.commit('j3');
    await log.markDone('j3', 'a');
    const result = await coordinator.execute({ txId: 'j3', join: true });
    expect(result).toMatchObject({ outcome: 'committed', joined: true });
    expect(a.calls).toEqual(['prepare j3', 'commit j3']);
    expect(b.calls).toEqual(['prepare j3', 'commit j3']);
    await expect(log.get('j3')).resolves.toMatchObject({ completed: true });
  });

  it('settle records an unknown transaction aborted: a later begin of the id conflicts', async () => {
    const { log, coordinator } = setup();
    await expect(coordinator.settle('j4', { participants: ['a'] })).resolves.toMatchObject({
      outcome: 'aborted',
    });
    await expect(log.begin('j4', ['a'], lease('late'))).rejects.toMatchObject({
      code: 'POTTER_TWOPC_CONFLICT',
    });
  });
});
