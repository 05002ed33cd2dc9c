import 'reflect-metadata';
import { ConfigurationError } from '../../../src/core/errors';
import { ManualClock } from '../../../src/testing/manual-clock';
import { ManualTimers, flushMicrotasks } from '../../../src/testing/manual-timers';
import {
  TwoPhaseCoordinator,
  type TwoPhaseCoordinatorOptions,
  type TwoPhaseResult,
} from '../../../src/twopc/coordinator';
import { TwoPhaseConflictError, TwoPhaseCoordinatorStoppedError } from '../../../src/twopc/errors';
import { MemoryCoordinatorLog } from '../../../src/twopc/memory-coordinator-log';
import { FakeParticipant, lease } from '../../contracts/twopc-log.contract';

function setup(options: Partial<TwoPhaseCoordinatorOptions> = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const timers = new ManualTimers(clock);
  const log = new MemoryCoordinatorLog({ clock });
  const a = new FakeParticipant('a');
  const b = new FakeParticipant('b');
  const base: TwoPhaseCoordinatorOptions = {
    log,
    participants: [a, b],
    timers,
    prepareTimeoutMs: 1_000,
    leaseMs: 5_000,
    retry: { initialDelayMs: 100, maxDelayMs: 400, multiplier: 2, jitter: 'none' },
  };
  const coordinator = new TwoPhaseCoordinator({ ...base, owner: 'c1', ...options });
  const other = (owner: string, extra: Partial<TwoPhaseCoordinatorOptions> = {}): TwoPhaseCoordinator =>
    new TwoPhaseCoordinator({ ...base, owner, ...extra });
  return { clock, timers, log, a, b, coordinator, other };
}

/** Lets `prepare` of `participant` wait until `release()` (then it votes as usual). */
function gatePrepare(participant: FakeParticipant): { release: () => void; entered: () => number } {
  const prepare = participant.prepare.bind(participant);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let entered = 0;
  participant.prepare = async (txId, payload, s) => {
    entered++;
    await gate;
    return prepare(txId, payload, s);
  };
  return { release: () => open(), entered: () => entered };
}

/** Tracks whether a promise settled (for asserting that a join still waits). */
function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let settled = false;
  const tracked = promise.finally(() => (settled = true));
  tracked.catch(() => undefined);
  return { settled: () => settled, promise: tracked };
}

const count = (p: FakeParticipant, call: string): number => p.calls.filter((c) => c === call).length;

describe('TwoPhaseCoordinator.execute with join', () => {
  it('runs the transaction when the log does not know its id', async () => {
    const { a, b, coordinator, log } = setup();
    const result = await coordinator.execute({ txId: 't1', join: true });
    expect(result).toEqual({
      txId: 't1',
      outcome: 'committed',
      votes: [
        { participant: 'a', vote: 'yes' },
        { participant: 'b', vote: 'yes' },
      ],
    });
    expect(a.calls).toEqual(['prepare t1', 'commit t1']);
    expect(b.calls).toEqual(['prepare t1', 'commit t1']);
    await expect(log.get('t1')).resolves.toMatchObject({ decision: 'commit', completed: true });
  });

  it('joins the run of the same id on this coordinator: one prepare phase, the same result', async () => {
    const { a, b, coordinator } = setup();
    const gate = gatePrepare(a);
    const first = coordinator.execute({ txId: 't1', join: true });
    await flushMicrotasks();
    const second = coordinator.execute({ txId: 't1', join: true });
    const third = coordinator.settle('t1');
    await flushMicrotasks();
    gate.release();
    const [r1, r2, r3] = await Promise.all([first, second, third]);
    expect(r1.joined).toBeUndefined();
    expect(r2).toEqual({ ...r1, joined: true });
    expect(r3).toEqual({ ...r1, joined: true });
    expect(gate.entered()).toBe(1);
    expect(count(b, 'prepare t1')).toBe(1);
    expect(count(b, 'commit t1')).toBe(1);
  });

  it('resolves a completed transaction from the log without calling anyone', async () => {
    const { a, b, coordinator, other } = setup();
    b.vote = 'no';
    await other('c0').execute({ txId: 't1' });
    a.calls.length = 0;
    b.calls.length = 0;
    await expect(coordinator.execute({ txId: 't1', join: true })).resolves.toEqual({
      txId: 't1',
      outcome: 'aborted',
      votes: [],
      joined: true,
    });
    expect([...a.calls, ...b.calls]).toEqual([]);
  });

  it('takes over a decided transaction whose lease expired: re-sends the decision to those that did not confirm', async () => {
    const { clock, log, a, b, coordinator } = setup();
    await log.begin('t1', ['a', 'b'], lease('dead', 5_000));
    await a.prepare('t1', undefined, new AbortController().signal);
    await b.prepare('t1', undefined, new AbortController().signal);
    await log.decide('t1', 'commit');
    await a.commit('t1');
    await log.markDone('t1', 'a');
    a.calls.length = 0;
    b.calls.length = 0;
    clock.advance(5_000);
    const result = await coordinator.execute({ txId: 't1', join: true, payload: 'ignored' });
    expect(result).toEqual({ txId: 't1', outcome: 'committed', votes: [], joined: true });
    expect(a.calls).toEqual([]);
    expect(b.calls).toEqual(['commit t1']);
    await expect(log.get('t1')).resolves.toMatchObject({ completed: true, done: ['a', 'b'] });
  });

  it('takes over an undecided transaction whose lease expired and aborts it; the late commit decision loses', async () => {
    const { clock, log, a, b, coordinator } = setup();
    await log.begin('t1', ['a', 'b'], lease('slow', 5_000));
    await a.prepare('t1', undefined, new AbortController().signal);
    clock.advance(5_000);
    const result = await coordinator.execute({ txId: 't1', join: true });
    expect(result).toEqual({ txId: 't1', outcome: 'aborted', votes: [], joined: true });
    expect(a.states.get('t1')).toBe('rolled-back');
    expect(b.calls).toEqual(['rollback t1']);
    // The slow coordinator wakes up with all its votes yes: the log keeps the abort.
    await expect(log.decide('t1', 'commit')).resolves.toBe('abort');
    expect([...a.violations, ...b.violations]).toEqual([]);
  });

  it('waits for a live coordinator to decide and finish, and never prepares again', async () => {
    const { timers, log, a, b, coordinator, other } = setup();
    const c2 = other('c2');
    const gate = gatePrepare(a);
    const running = c2.execute({ txId: 't1' });
    await flushMicrotasks();
    const joined = track(coordinator.execute({ txId: 't1', join: true }));
    for (let i = 0; i < 5; i++) await timers.advance(100);
    expect(joined.settled()).toBe(false);
    await expect(log.get('t1')).resolves.toMatchObject({ owner: 'c2' });
    gate.release();
    await expect(running).resolves.toMatchObject({ outcome: 'committed' });
    await timers.advance(400);
    await expect(joined.promise).resolves.toEqual({
      txId: 't1',
      outcome: 'committed',
      votes: [],
      joined: true,
    });
    expect(gate.entered()).toBe(1);
    expect(count(b, 'prepare t1')).toBe(1);
    expect(count(a, 'commit t1') + count(b, 'commit t1')).toBe(2);
  });

  it('waits for a live coordinator that decided and keeps re-sending to a participant that is down', async () => {
    const { timers, log, b, coordinator, other } = setup();
    const c2 = other('c2');
    b.failCommits = 1_000;
    const running = track(c2.execute({ txId: 't1' }));
    await flushMicrotasks();
    await expect(log.outcome('t1')).resolves.toBe('commit');
    const joined = track(coordinator.execute({ txId: 't1', join: true }));
    // c2 renews its lease on every re-send: the joiner never takes over and never sends itself.
    for (let i = 0; i < 30; i++) await timers.advance(400);
    expect(joined.settled()).toBe(false);
    const commitsSoFar = count(b, 'commit t1');
    expect(commitsSoFar).toBeGreaterThan(20);
    b.failCommits = 0;
    await timers.advance(400);
    await expect(running.promise).resolves.toMatchObject({ outcome: 'committed' });
    await timers.advance(400);
    await expect(joined.promise).resolves.toMatchObject({ outcome: 'committed', joined: true });
    expect(count(b, 'commit t1')).toBe(commitsSoFar + 1);
  });

  it('takes over once the holder of an undecided transaction stops renewing (it died in prepare)', async () => {
    const { timers, log, a, b, coordinator } = setup();
    await log.begin('t1', ['a', 'b'], lease('gone', 5_000));
    const joined = track(coordinator.execute({ txId: 't1', join: true }));
    await timers.advance(4_900);
    expect(joined.settled()).toBe(false);
    expect(a.calls).toEqual([]);
    await timers.advance(400);
    await expect(joined.promise).resolves.toEqual({
      txId: 't1',
      outcome: 'aborted',
      votes: [],
      joined: true,
    });
    expect(a.calls).toEqual(['rollback t1']);
    expect(b.calls).toEqual(['rollback t1']);
  });

  it('races recover() on an expired transaction: one of them drives it, each participant gets one rollback', async () => {
    for (const joinFirst of [true, false]) {
      const { clock, log, a, b, coordinator, other, timers } = setup();
      await log.begin('t1', ['a', 'b'], lease('gone', 5_000));
      clock.advance(5_000);
      const recoverer = other('c2');
      const [first, second] = joinFirst
        ? [coordinator.execute({ txId: 't1', join: true }), recoverer.recover()]
        : [recoverer.recover(), coordinator.execute({ txId: 't1', join: true })];
      await flushMicrotasks();
      await timers.advance(400);
      const results = await Promise.all([first, second]);
      const joinResult = (joinFirst ? results[0] : results[1]) as TwoPhaseResult;
      expect(joinResult).toMatchObject({ outcome: 'aborted', joined: true });
      expect(count(a, 'rollback t1')).toBe(1);
      expect(count(b, 'rollback t1')).toBe(1);
      await expect(log.get('t1')).resolves.toMatchObject({ decision: 'abort', completed: true });
    }
  });

  it('joins the transaction a begin race lost against: looks at the log again', async () => {
    const { log, a, coordinator } = setup();
    // Another coordinator's begin lands between this one's look at the log and its own begin.
    const get = log.get.bind(log);
    let raced = false;
    log.get = async (txId) => {
      const record = await get(txId);
      if (!raced) {
        raced = true;
        await log.begin(txId, ['a', 'b'], lease('c2', 5_000));
        await log.decide(txId, 'abort');
        await log.complete(txId);
      }
      return record;
    };
    await expect(coordinator.execute({ txId: 't1', join: true })).resolves.toEqual({
      txId: 't1',
      outcome: 'aborted',
      votes: [],
      joined: true,
    });
    expect(a.calls).toEqual([]);
  });

  it('refuses a plain execute of an id this coordinator drives (TwoPhaseConflictError)', async () => {
    const { a, coordinator } = setup();
    const gate = gatePrepare(a);
    const running = coordinator.execute({ txId: 't1', join: true });
    await flushMicrotasks();
    expect(gate.entered()).toBe(1);
    await expect(coordinator.execute({ txId: 't1' })).rejects.toBeInstanceOf(TwoPhaseConflictError);
    gate.release();
    await expect(running).resolves.toMatchObject({ outcome: 'committed' });
  });

  it('stops waiting when the caller signal aborts; the transaction goes on', async () => {
    const { a, coordinator } = setup();
    const gate = gatePrepare(a);
    const running = coordinator.execute({ txId: 't1' });
    const controller = new AbortController();
    const joined = coordinator.execute({ txId: 't1', join: true, signal: controller.signal });
    controller.abort(new Error('step timed out'));
    await expect(joined).rejects.toThrow('step timed out');
    gate.release();
    await expect(running).resolves.toMatchObject({ outcome: 'committed' });
  });

  it('rejects with TwoPhaseCoordinatorStoppedError when closed while waiting for another coordinator', async () => {
    const { log, coordinator } = setup();
    await log.begin('t1', ['a', 'b'], lease('c2', 5_000));
    const joined = coordinator.execute({ txId: 't1', join: true });
    await flushMicrotasks();
    coordinator.close();
    await expect(joined).rejects.toBeInstanceOf(TwoPhaseCoordinatorStoppedError);
  });

  it('refuses to join a transaction whose participants it cannot reach by name (ConfigurationError)', async () => {
    const { log, clock, coordinator } = setup();
    await log.begin('t1', ['a', 'x'], lease('gone', 5_000));
    clock.advance(5_000);
    await expect(coordinator.execute({ txId: 't1', join: true })).rejects.toBeInstanceOf(ConfigurationError);
    await expect(log.outcome('t1')).resolves.toBe('undecided');
  });
});

describe('TwoPhaseCoordinator.settle', () => {
  it('records an unknown transaction as aborted so that a late execute cannot run it', async () => {
    const { log, a, b, coordinator, other } = setup();
    await expect(coordinator.settle('t1', { participants: ['a', 'b'] })).resolves.toEqual({
      txId: 't1',
      outcome: 'aborted',
      votes: [],
      joined: true,
    });
    expect(a.calls).toEqual(['rollback t1']);
    await expect(log.get('t1')).resolves.toMatchObject({ decision: 'abort', completed: true });
    // A late attempt of the same id, here or elsewhere, joins the abort instead of running.
    await expect(other('c2').execute({ txId: 't1', join: true })).resolves.toMatchObject({
      outcome: 'aborted',
      joined: true,
    });
    await expect(other('c3').execute({ txId: 't1' })).rejects.toBeInstanceOf(TwoPhaseConflictError);
    expect(count(a, 'prepare t1') + count(b, 'prepare t1')).toBe(0);
  });

  it('resolves to the outcome of a committed transaction', async () => {
    const { coordinator, other } = setup();
    await other('c0').execute({ txId: 't1' });
    await expect(coordinator.settle('t1')).resolves.toMatchObject({ outcome: 'committed', joined: true });
  });
});
