import { ManualClock } from '../../../src/testing/manual-clock';
import { ManualTimers, flushMicrotasks } from '../../../src/testing/manual-timers';
import {
  MemoryCoordinatorLog,
  TwoPhaseConflictError,
  TwoPhaseCoordinator,
  TwoPhaseCoordinatorStoppedError,
  type TwoPhaseCoordinatorOptions,
} from '../../../src/twopc';
import { FakeParticipant, lease } from '../../contracts/twopc-log.contract';

const signal = (): AbortSignal => new AbortController().signal;

function setup(options: Partial<TwoPhaseCoordinatorOptions> = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const timers = new ManualTimers(clock);
  const log = new MemoryCoordinatorLog({ clock });
  const a = new FakeParticipant('a');
  const b = new FakeParticipant('b');
  const c = new FakeParticipant('c');
  const coordinator = new TwoPhaseCoordinator({
    log,
    participants: [a, b, c],
    timers,
    owner: 'c1',
    prepareTimeoutMs: 1_000,
    leaseMs: 5_000,
    retry: { initialDelayMs: 100, maxDelayMs: 400, multiplier: 2, jitter: 'none' },
    ...options,
  });
  return { clock, timers, log, a, b, c, coordinator };
}

describe('TwoPhaseCoordinator.execute', () => {
  it('commits on every participant when all vote yes, and completes the log', async () => {
    const { log, a, b, c, coordinator } = setup();
    const result = await coordinator.execute({ txId: 't1', payload: { qty: 2 } });
    expect(result).toEqual({
      txId: 't1',
      outcome: 'committed',
      votes: [
        { participant: 'a', vote: 'yes' },
        { participant: 'b', vote: 'yes' },
        { participant: 'c', vote: 'yes' },
      ],
    });
    for (const p of [a, b, c]) {
      expect(p.states.get('t1')).toBe('committed');
      expect(p.calls).toEqual(['prepare t1', 'commit t1']);
    }
    await expect(log.get('t1')).resolves.toMatchObject({ decision: 'commit', completed: true });
    await expect(coordinator.outcome('t1')).resolves.toBe('commit');
  });

  it('passes the payload to prepare and generates a UUID v7 id when none is given', async () => {
    const { a, coordinator } = setup();
    const seen: unknown[] = [];
    const prepare = a.prepare.bind(a);
    a.prepare = (txId, payload, s) => {
      seen.push(payload);
      return prepare(txId, payload, s);
    };
    const result = await coordinator.execute({ participants: ['a'], payload: { sku: 'X' } });
    expect(result.txId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(seen).toEqual([{ sku: 'X' }]);
  });

  it('rolls back every participant, also those that voted yes, when one votes no', async () => {
    const { log, a, b, c, coordinator } = setup();
    b.vote = 'no';
    const result = await coordinator.execute({ txId: 't1' });
    expect(result.outcome).toBe('aborted');
    expect(result.votes).toEqual([
      { participant: 'a', vote: 'yes' },
      { participant: 'b', vote: 'no', error: { name: 'Error', message: 'b refuses t1' } },
      { participant: 'c', vote: 'yes' },
    ]);
    for (const p of [a, b, c]) expect(p.states.get('t1')).toBe('rolled-back');
    expect(a.calls).toEqual(['prepare t1', 'rollback t1']);
    await expect(log.get('t1')).resolves.toMatchObject({ decision: 'abort', completed: true });
    expect([...a.violations, ...b.violations, ...c.violations]).toEqual([]);
  });

  it('aborts when a participant does not vote within the prepare timeout, aborting its signal', async () => {
    const { timers, a, b, c, coordinator } = setup();
    c.vote = 'hang';
    let aborted: unknown;
    const prepare = c.prepare.bind(c);
    c.prepare = (txId, payload, s) => {
      s.addEventListener('abort', () => (aborted = s.reason));
      return prepare(txId, payload, s);
    };
    const running = coordinator.execute({ txId: 't1' });
    await timers.advance(999);
    expect(a.calls).toEqual(['prepare t1']);
    await timers.advance(1);
    const result = await running;
    expect(result.outcome).toBe('aborted');
    expect(result.votes[2]).toEqual({
      participant: 'c',
      vote: 'timeout',
      error: {
        name: 'TimeoutError',
        message: 'prepare of c for t1 timed out after 1000 ms.',
        code: 'POTTER_TIMEOUT',
      },
    });
    expect(aborted).toMatchObject({ code: 'POTTER_TIMEOUT' });
    for (const p of [a, b, c]) expect(p.states.get('t1')).toBe('rolled-back');
  });

  it('re-sends a commit with capped backoff until the participant confirms, leaving the others alone', async () => {
    const { timers, log, a, b, c, coordinator } = setup();
    b.failCommits = 6;
    let done = false;
    const running = coordinator.execute({ txId: 't1' }).then((r) => {
      done = true;
      return r;
    });
    await flushMicrotasks();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(...timers.pending());
      expect(done).toBe(false);
      await timers.advance(timers.pending()[0]!);
    }
    const result = await running;
    expect(delays).toEqual([100, 200, 400, 400, 400, 400]);
    expect(result.outcome).toBe('committed');
    expect(b.calls.filter((call) => call === 'commit t1')).toHaveLength(7);
    expect(a.calls).toEqual(['prepare t1', 'commit t1']);
    expect(c.calls).toEqual(['prepare t1', 'commit t1']);
    for (const p of [a, b, c]) expect(p.states.get('t1')).toBe('committed');
    await expect(log.get('t1')).resolves.toMatchObject({ completed: true });
  });

  it('re-sends a commit that does not answer within the call timeout', async () => {
    const { timers, a, coordinator } = setup({ callTimeoutMs: 500 });
    let calls = 0;
    const commit = a.commit.bind(a);
    a.commit = (txId) => (++calls === 1 ? new Promise<void>(() => undefined) : commit(txId));
    const running = coordinator.execute({ txId: 't1', participants: ['a'] });
    await timers.advance(500);
    await timers.advance(100);
    await expect(running).resolves.toMatchObject({ outcome: 'committed' });
    expect(calls).toBe(2);
  });

  it('re-sends a rollback until the participant confirms', async () => {
    const { timers, a, b, coordinator } = setup();
    a.vote = 'no';
    b.failRollbacks = 2;
    const running = coordinator.execute({ txId: 't1', participants: ['a', 'b'] });
    await timers.advance(100);
    await timers.advance(200);
    await expect(running).resolves.toMatchObject({ outcome: 'aborted' });
    expect(b.calls.filter((call) => call === 'rollback t1')).toHaveLength(3);
    expect(b.states.get('t1')).toBe('rolled-back');
  });

  it('refuses a used transaction id (TwoPhaseConflictError) without calling the participants', async () => {
    const { a, coordinator } = setup();
    await coordinator.execute({ txId: 't1', participants: ['a'] });
    await expect(coordinator.execute({ txId: 't1', participants: ['a'] })).rejects.toBeInstanceOf(
      TwoPhaseConflictError,
    );
    expect(a.calls).toEqual(['prepare t1', 'commit t1']);
  });

  it('takes participant objects that are not registered', async () => {
    const { log } = setup();
    const x = new FakeParticipant('x');
    const coordinator = new TwoPhaseCoordinator({ log });
    await expect(coordinator.execute({ txId: 't1', participants: [x] })).resolves.toMatchObject({
      outcome: 'committed',
    });
    expect(x.states.get('t1')).toBe('committed');
  });

  it('refuses invalid participants and options (ConfigurationError)', async () => {
    const { log, a, coordinator } = setup();
    for (const participants of [[], ['nope'], ['a', 'a'], [a, 'a']]) {
      await expect(coordinator.execute({ participants })).rejects.toMatchObject({
        code: 'POTTER_CONFIGURATION_INVALID',
      });
    }
    await expect(new TwoPhaseCoordinator({ log }).execute()).rejects.toMatchObject({
      code: 'POTTER_CONFIGURATION_INVALID',
    });
    expect(() => new TwoPhaseCoordinator({ log, participants: [a, a] })).toThrow(/registered already/);
    expect(() => new TwoPhaseCoordinator({ log, prepareTimeoutMs: 0 })).toThrow(/prepareTimeoutMs/);
    expect(() => new TwoPhaseCoordinator({ log, prepareTimeoutMs: 5_000, leaseMs: 5_000 })).toThrow(
      /above prepareTimeoutMs/,
    );
    expect(() => new TwoPhaseCoordinator({ log, recoveryBatchSize: 0 })).toThrow(/recoveryBatchSize/);
    await expect(log.unfinished()).resolves.toEqual([]);
  });

  it('stops on close with TwoPhaseCoordinatorStoppedError, leaving the transaction to recovery', async () => {
    const { clock, timers, log, a, b, c, coordinator } = setup();
    b.failCommits = 1_000;
    const running = coordinator.execute({ txId: 't1' });
    const rejected = expect(running).rejects.toBeInstanceOf(TwoPhaseCoordinatorStoppedError);
    await timers.advance(1_000);
    coordinator.close();
    await rejected;
    await expect(running).rejects.toMatchObject({ details: { txId: 't1', owner: 'c1' } });
    expect(timers.pending()).toEqual([]);
    await expect(coordinator.execute({ participants: ['a'] })).rejects.toBeInstanceOf(
      TwoPhaseCoordinatorStoppedError,
    );
    await expect(log.get('t1')).resolves.toMatchObject({ decision: 'commit', completed: false });
    expect(a.states.get('t1')).toBe('committed');
    expect(b.states.get('t1')).toBe('prepared');

    b.failCommits = 0;
    const successor = new TwoPhaseCoordinator({ log, timers, owner: 'c2', prepareTimeoutMs: 1_000 });
    await expect(successor.recover([a, b, c])).resolves.toEqual({ recovered: [], skipped: [] });
    clock.advance(5_000);
    await expect(successor.recover([a, b, c])).resolves.toEqual({
      recovered: [{ txId: 't1', outcome: 'committed' }],
      skipped: [],
    });
    expect(b.states.get('t1')).toBe('committed');
    expect(a.calls.filter((call) => call === 'commit t1')).toHaveLength(1);
  });
});

describe('TwoPhaseCoordinator.recover', () => {
  async function crashed(
    log: MemoryCoordinatorLog,
    txId: string,
    participants: FakeParticipant[],
  ): Promise<void> {
    await log.begin(
      txId,
      participants.map((p) => p.name),
      lease('dead', 1_000),
    );
    for (const p of participants) await p.prepare(txId, undefined, signal());
  }

  it('aborts a transaction that was begun and not decided: rollback to every participant', async () => {
    const { clock, log, a, b, c, coordinator } = setup();
    await crashed(log, 't1', [a, b, c]);
    clock.advance(1_000);
    await expect(coordinator.recover()).resolves.toEqual({
      recovered: [{ txId: 't1', outcome: 'aborted' }],
      skipped: [],
    });
    for (const p of [a, b, c]) expect(p.states.get('t1')).toBe('rolled-back');
    await expect(log.get('t1')).resolves.toMatchObject({ decision: 'abort', completed: true });
  });

  it('re-sends commit only to the participants that did not confirm a commit decision', async () => {
    const { clock, log, a, b, c, coordinator } = setup();
    await crashed(log, 't1', [a, b, c]);
    await log.decide('t1', 'commit');
    await a.commit('t1');
    await log.markDone('t1', 'a');
    clock.advance(1_000);
    await expect(coordinator.recover()).resolves.toMatchObject({
      recovered: [{ txId: 't1', outcome: 'committed' }],
    });
    expect(a.calls).toEqual(['prepare t1', 'commit t1']);
    expect(b.calls).toEqual(['prepare t1', 'commit t1']);
    for (const p of [a, b, c]) expect(p.states.get('t1')).toBe('committed');
  });

  it('re-commits idempotently a participant that committed before the crash recorded it', async () => {
    const { clock, log, a, b, coordinator } = setup();
    await crashed(log, 't1', [a, b]);
    await log.decide('t1', 'commit');
    await a.commit('t1');
    clock.advance(1_000);
    await coordinator.recover();
    expect(a.calls).toEqual(['prepare t1', 'commit t1', 'commit t1']);
    expect(a.states.get('t1')).toBe('committed');
    expect(b.states.get('t1')).toBe('committed');
    expect(a.violations).toEqual([]);
  });

  it('rolls back the participants of an abort decision that did not confirm it', async () => {
    const { clock, log, a, b, coordinator } = setup();
    await crashed(log, 't1', [a, b]);
    await log.decide('t1', 'abort');
    await a.rollback('t1');
    await log.markDone('t1', 'a');
    clock.advance(1_000);
    await expect(coordinator.recover()).resolves.toMatchObject({
      recovered: [{ txId: 't1', outcome: 'aborted' }],
    });
    expect(a.calls).toEqual(['prepare t1', 'rollback t1']);
    expect(b.states.get('t1')).toBe('rolled-back');
  });

  it('leaves alone the transactions whose lease still runs', async () => {
    const { clock, log, a, coordinator } = setup();
    await crashed(log, 't1', [a]);
    clock.advance(999);
    await expect(coordinator.recover()).resolves.toEqual({ recovered: [], skipped: [] });
    expect(a.states.get('t1')).toBe('prepared');
  });

  it('skips a transaction whose participants are not given, after deciding it abort', async () => {
    const { clock, log, a } = setup();
    await crashed(log, 't1', [a, new FakeParticipant('elsewhere')]);
    clock.advance(1_000);
    const coordinator = new TwoPhaseCoordinator({ log, participants: [a], owner: 'r' });
    await expect(coordinator.recover()).resolves.toEqual({
      recovered: [],
      skipped: [{ txId: 't1', decision: 'abort', missing: ['elsewhere'] }],
    });
    expect(a.states.get('t1')).toBe('prepared');
    await expect(log.get('t1')).resolves.toMatchObject({ decision: 'abort', completed: false });
  });

  it('recovers many transactions, in batches', async () => {
    const { clock, log, a, b } = setup();
    for (let i = 0; i < 7; i++) {
      await crashed(log, `t${i}`, [a, b]);
      if (i % 2 === 0) await log.decide(`t${i}`, 'commit');
    }
    clock.advance(1_000);
    const coordinator = new TwoPhaseCoordinator({ log, participants: [a, b], recoveryBatchSize: 2 });
    const { recovered } = await coordinator.recover();
    expect(recovered.map((r) => r.txId).sort()).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6']);
    for (let i = 0; i < 7; i++) {
      const expected = i % 2 === 0 ? 'committed' : 'rolled-back';
      expect([a.states.get(`t${i}`), b.states.get(`t${i}`)]).toEqual([expected, expected]);
    }
    await expect(log.unfinished()).resolves.toEqual([]);
  });
});

describe('TwoPhaseCoordinator.outcome', () => {
  it('presumes abort for an unknown transaction and answers pending during the prepare phase', async () => {
    const { clock, log, coordinator } = setup();
    await expect(coordinator.outcome('unknown')).resolves.toBe('abort');
    await log.begin('t1', ['a'], lease('other'));
    clock.advance(999);
    await expect(coordinator.outcome('t1')).resolves.toBe('pending');
    await expect(log.outcome('t1')).resolves.toBe('undecided');
  });

  it('aborts an undecided transaction older than the prepare timeout: a late commit decision loses', async () => {
    const { clock, timers, log, a, b } = setup();
    const slow = new TwoPhaseCoordinator({ log, participants: [a, b], timers, prepareTimeoutMs: 10_000 });
    const asker = new TwoPhaseCoordinator({ log, prepareTimeoutMs: 1_000 });
    let release = (): void => undefined;
    const prepare = b.prepare.bind(b);
    b.prepare = async (txId, payload, s) => {
      await new Promise<void>((resolve) => (release = resolve));
      return prepare(txId, payload, s);
    };
    const running = slow.execute({ txId: 't1' });
    await flushMicrotasks();
    clock.advance(1_000);
    // a is prepared and in doubt: it asks.
    await expect(asker.outcome('t1')).resolves.toBe('abort');
    release();
    const result = await running;
    expect(result.outcome).toBe('aborted');
    expect(result.votes.map((v) => v.vote)).toEqual(['yes', 'yes']);
    expect([a.states.get('t1'), b.states.get('t1')]).toEqual(['rolled-back', 'rolled-back']);
    expect([...a.violations, ...b.violations]).toEqual([]);
  });
});
