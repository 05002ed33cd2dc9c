import 'reflect-metadata';
import { ConfigurationError } from '../../../src/core/errors';
import { ManualClock } from '../../../src/testing/manual-clock';
import { ManualTimers, flushMicrotasks } from '../../../src/testing/manual-timers';
import {
  Compensate,
  MemorySagaStore,
  Saga,
  SagaOrchestrator,
  SagaStep,
  defineSaga,
  sagaDefinitionOf,
  type SagaTimers,
  type StepArgs,
  type StepOptions,
} from '../../../src/saga';
import { TwoPhaseCoordinator, type TwoPhaseResult } from '../../../src/twopc/coordinator';
import { TwoPhaseAbortedError } from '../../../src/twopc/errors';
import { MemoryCoordinatorLog } from '../../../src/twopc/memory-coordinator-log';
import {
  compensateTwoPhase,
  runTwoPhase,
  twoPhaseStep,
  type CompensableTwoPhaseParticipant,
} from '../../../src/twopc/saga-step';
import type { CoordinatorLog } from '../../../src/twopc/types';
import { FakeParticipant } from '../../contracts/twopc-log.contract';
import { LEASE_MS, cluster } from '../saga/cluster';

/** A fake participant that can also undo a commit (recorded as state `compensated`). */
class Warehouse extends FakeParticipant implements CompensableTwoPhaseParticipant {
  readonly compensated: string[] = [];
  failCompensations = 0;

  async compensate(txId: string): Promise<void> {
    this.calls.push(`compensate ${txId}`);
    await Promise.resolve();
    if (this.failCompensations > 0) {
      this.failCompensations--;
      throw new Error(`${this.name} cannot compensate now`);
    }
    if (this.states.get(txId) !== 'committed') return;
    if (!this.compensated.includes(txId)) this.compensated.push(txId);
  }
}

interface Ctx {
  log: string[];
  reservation?: { txId: string; votes: string[] };
}

const input = (): Ctx => ({ log: [] });

const undoable = (name: string, fail = false): StepOptions<Ctx> => ({
  execute: ({ context }) => {
    if (fail) throw new Error(`${name} failed`);
    context.log.push(name);
  },
  compensate: ({ context }) => void context.log.push(`undo ${name}`),
});

const count = (p: FakeParticipant, call: string): number => p.calls.filter((c) => c === call).length;

/** Advances `timers` step by step until `promise` settles (for retry delays inside a saga). */
async function settleWith<T>(timers: ManualTimers, promise: Promise<T>, stepMs = 50): Promise<T> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 200 && !settled; i++) await timers.advance(stepMs);
  return promise;
}

/** A log that forwards every call to `inner`, with some methods replaced. */
function wrapLog(inner: CoordinatorLog, replaced: Partial<CoordinatorLog>): CoordinatorLog {
  return {
    begin: (...a) => inner.begin(...a),
    decide: (...a) => inner.decide(...a),
    markDone: (...a) => inner.markDone(...a),
    complete: (...a) => inner.complete(...a),
    outcome: (...a) => inner.outcome(...a),
    get: (...a) => inner.get(...a),
    unfinished: () => inner.unfinished(),
    claim: (...a) => inner.claim(...a),
    renew: (...a) => inner.renew(...a),
    ...replaced,
  };
}

function setup(logOverride?: (log: MemoryCoordinatorLog) => CoordinatorLog) {
  const clock = new ManualClock(1_000);
  const timers = new ManualTimers(clock);
  const memoryLog = new MemoryCoordinatorLog({ clock });
  const log = logOverride?.(memoryLog) ?? memoryLog;
  const north = new Warehouse('north');
  const south = new Warehouse('south');
  const coordinator = new TwoPhaseCoordinator({
    log,
    participants: [north, south],
    timers,
    owner: 'c1',
    prepareTimeoutMs: 1_000,
    leaseMs: 5_000,
    retry: { initialDelayMs: 100, maxDelayMs: 400, jitter: 'none' },
  });
  const orchestrator = new SagaOrchestrator({
    store: new MemorySagaStore({ clock }),
    clock,
    timers,
    random: () => 0.5,
    newId: () => 's1',
    leaseMs: 3_600_000,
  });
  const reserve = (extra: Partial<Parameters<typeof twoPhaseStep<Ctx>>[0]> = {}): StepOptions<Ctx> =>
    twoPhaseStep<Ctx>({
      coordinator,
      participants: () => [north, 'south'],
      payload: (ctx) => ({ lines: ctx.log.length }),
      onCommitted: ({ context }, result) => {
        context.reservation = { txId: result.txId, votes: result.votes.map((v) => v.vote) };
      },
      ...extra,
    });
  return { clock, timers, log: memoryLog, north, south, coordinator, orchestrator, reserve };
}

describe('twoPhaseStep', () => {
  it('commits the transaction under the id `${sagaId}:${step}` and hands the result to the context', async () => {
    const { orchestrator, reserve, north, south, log } = setup();
    const definition = defineSaga<Ctx>('order')
      .step('order', undoable('order'))
      .step('reserve', reserve())
      .step('ship', undoable('ship'))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('completed');
    expect(state.context).toEqual({
      log: ['order', 'ship'],
      reservation: { txId: 's1:reserve', votes: ['yes', 'yes'] },
    });
    expect(north.calls).toEqual(['prepare s1:reserve', 'commit s1:reserve']);
    expect(south.states.get('s1:reserve')).toBe('committed');
    await expect(log.get('s1:reserve')).resolves.toMatchObject({ decision: 'commit', completed: true });
  });

  it('fails on an abort (one warehouse says no) without retrying; the earlier steps are compensated, the 2PC step is not', async () => {
    const { orchestrator, reserve, north, south, log } = setup();
    south.vote = 'no';
    const definition = defineSaga<Ctx>('order')
      .step('order', undoable('order'))
      .step('reserve', reserve())
      .step('ship', undoable('ship'))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('compensated');
    expect(state.attempts).toEqual({ order: 1, reserve: 1 });
    expect(state.error).toEqual({
      name: 'TwoPhaseAbortedError',
      code: 'POTTER_TWOPC_ABORTED',
      message: 'Two-phase transaction s1:reserve was aborted: south voted no (south refuses s1:reserve).',
    });
    expect(state.compensatedSteps).toEqual(['order']);
    expect(state.context.log).toEqual(['order', 'undo order']);
    expect(north.calls).toEqual(['prepare s1:reserve', 'rollback s1:reserve']);
    expect(south.calls).toEqual(['prepare s1:reserve', 'rollback s1:reserve']);
    await expect(log.get('s1:reserve')).resolves.toMatchObject({ decision: 'abort', completed: true });
  });

  it('is compensated when a later step fails: every participant undoes the committed transaction', async () => {
    const { orchestrator, reserve, north, south, timers } = setup();
    north.failCompensations = 1;
    const definition = defineSaga<Ctx>('order')
      .compensationRetry({ maxAttempts: 3, initialDelayMs: 0, jitter: 'none' })
      .step('order', undoable('order'))
      .step('reserve', reserve())
      .step('charge', undoable('charge', true))
      .build();
    const state = await settleWith(timers, (await orchestrator.start(definition, input())).result);
    expect(state.status).toBe('compensated');
    expect(state.compensatedSteps).toEqual(['reserve', 'order']);
    expect(state.compensationAttempts).toEqual({ reserve: 2, order: 1 });
    expect(north.compensated).toEqual(['s1:reserve']);
    expect(south.compensated).toEqual(['s1:reserve']);
    // The retry of the compensation called both again (idempotent), and never re-ran the transaction.
    expect(north.calls).toEqual([
      'prepare s1:reserve',
      'commit s1:reserve',
      'compensate s1:reserve',
      'compensate s1:reserve',
    ]);
    expect(count(south, 'compensate s1:reserve')).toBe(2);
  });

  it('uses the given compensate instead of the participants, with the settled result', async () => {
    const { orchestrator, reserve, north } = setup();
    const undone: TwoPhaseResult[] = [];
    const definition = defineSaga<Ctx>('order')
      .step('reserve', reserve({ compensate: (_args, result) => void undone.push(result) }))
      .step('charge', undoable('charge', true))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('compensated');
    expect(undone).toEqual([{ txId: 's1:reserve', outcome: 'committed', votes: [], joined: true }]);
    expect(north.compensated).toEqual([]);
  });

  it('refuses to compensate a committed transaction of participants without compensate (ConfigurationError)', async () => {
    const { coordinator } = setup();
    const plain = new FakeParticipant('plain');
    await coordinator.execute({ txId: 's1:reserve', participants: [plain] });
    await expect(
      compensateTwoPhase(
        coordinator,
        { sagaId: 's1', step: 'reserve', signal: new AbortController().signal },
        { participants: [plain] },
      ),
    ).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('joins the same transaction when an attempt times out while it runs: one prepare phase, no second transaction', async () => {
    const { orchestrator, reserve, north, south, timers, log } = setup();
    const prepare = north.prepare.bind(north);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    north.prepare = async (txId, payload, s) => {
      north.calls.push('(gated)');
      await gate;
      return prepare(txId, payload, s);
    };
    const definition = defineSaga<Ctx>('order')
      .step(
        'reserve',
        reserve({ timeoutMs: 300, retry: { maxAttempts: 3, initialDelayMs: 100, jitter: 'none' } }),
      )
      .build();
    const handle = await orchestrator.start(definition, input());
    await timers.advance(300); // attempt 1 times out
    await timers.advance(100); // attempt 2 starts and joins the running transaction
    await timers.advance(100);
    open();
    const state = await handle.result;
    expect(state.status).toBe('completed');
    expect(state.attempts).toEqual({ reserve: 2 });
    expect(count(north, '(gated)')).toBe(1);
    expect(count(south, 'prepare s1:reserve')).toBe(1);
    expect(count(south, 'commit s1:reserve')).toBe(1);
    expect((await log.unfinished()).length).toBe(0);
    expect(state.context.reservation).toEqual({ txId: 's1:reserve', votes: ['yes', 'yes'] });
  });

  it('retries after a log failure past the decision: the retry finishes the committed transaction instead of running another', async () => {
    let failMarkDone = 1;
    const { orchestrator, reserve, north, south, timers, log } = setup((memory) =>
      wrapLog(memory, {
        markDone: async (txId, participant) => {
          if (failMarkDone-- > 0) throw new Error('connection lost');
          return memory.markDone(txId, participant);
        },
      }),
    );
    const definition = defineSaga<Ctx>('order')
      .step('reserve', reserve({ retry: { maxAttempts: 3, initialDelayMs: 100, jitter: 'none' } }))
      .build();
    const handle = await orchestrator.start(definition, input());
    await flushMicrotasks();
    await timers.advance(100);
    const state = await handle.result;
    expect(state.status).toBe('completed');
    expect(state.attempts).toEqual({ reserve: 2 });
    expect(count(north, 'prepare s1:reserve') + count(south, 'prepare s1:reserve')).toBe(2);
    expect(north.states.get('s1:reserve')).toBe('committed');
    expect(south.states.get('s1:reserve')).toBe('committed');
    await expect(log.get('s1:reserve')).resolves.toMatchObject({
      completed: true,
      done: expect.arrayContaining(['north', 'south']),
    });
    // The joined result does not know the votes.
    expect(state.context.reservation).toEqual({ txId: 's1:reserve', votes: [] });
  });

  it('compensates a step whose last attempt failed after the commit decision (compensateOnFailure): the committed transaction is undone', async () => {
    let failMarkDone = 1;
    const { orchestrator, reserve, north, south, timers } = setup((memory) =>
      wrapLog(memory, {
        markDone: async (txId, participant) => {
          if (failMarkDone-- > 0) throw new Error('connection lost');
          return memory.markDone(txId, participant);
        },
      }),
    );
    const definition = defineSaga<Ctx>('order')
      .step('reserve', reserve({ retry: { maxAttempts: 1 } }))
      .build();
    const handle = await orchestrator.start(definition, input());
    const state = await settleWith(timers, handle.result);
    // The only attempt failed with the decision (commit) already logged: without
    // compensateOnFailure the saga would end failed with stock held in both warehouses.
    expect(state.status).toBe('compensated');
    expect(state.error?.message).toBe('connection lost');
    expect(state.compensatedSteps).toEqual(['reserve']);
    expect(north.compensated).toEqual(['s1:reserve']);
    expect(south.compensated).toEqual(['s1:reserve']);
  });

  it('settles a transaction cut short by the saga giving up, and compensates it once committed', async () => {
    const { orchestrator, reserve, north, timers } = setup();
    const prepare = north.prepare.bind(north);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    north.prepare = async (txId, payload, s) => {
      await gate;
      return prepare(txId, payload, s);
    };
    const definition = defineSaga<Ctx>('order')
      .step('reserve', reserve({ timeoutMs: 300, retry: { maxAttempts: 1 } }))
      .build();
    const handle = await orchestrator.start(definition, input());
    await timers.advance(300); // the only attempt times out: the step's effect is unknown → compensated
    await flushMicrotasks();
    expect(north.compensated).toEqual([]);
    open(); // the transaction commits after all; the compensation was waiting for it
    const state = await handle.result;
    expect(state.status).toBe('compensated');
    expect(state.compensatedSteps).toEqual(['reserve']);
    expect(north.compensated).toEqual(['s1:reserve']);
  });

  it('maps a closed coordinator to AppNotRunningError (the saga is handed over, not failed)', async () => {
    const { coordinator } = setup();
    coordinator.close();
    await expect(
      runTwoPhase(
        coordinator,
        { sagaId: 's1', step: 'reserve', signal: new AbortController().signal },
        { participants: ['north'] },
      ),
    ).rejects.toMatchObject({ code: 'POTTER_APP_NOT_RUNNING' });
  });

  it('is not retried on an abort even with a retry policy and a permissive retryable', async () => {
    const { orchestrator, reserve, south } = setup();
    south.vote = 'no';
    const definition = defineSaga<Ctx>('order')
      .step('reserve', reserve({ retry: { maxAttempts: 5 }, retryable: () => true }))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('failed');
    expect(state.attempts).toEqual({ reserve: 1 });
  });
});

describe('runTwoPhase / compensateTwoPhase in a @Saga class', () => {
  it('reserves atomically in a @SagaStep method and undoes it in its @Compensate method', async () => {
    const { orchestrator, coordinator, north, south } = setup();

    @Saga('decorated-order')
    class OrderSaga {
      @SagaStep('reserve')
      async reserve(args: StepArgs<Ctx>): Promise<void> {
        const { txId } = await runTwoPhase(coordinator, args, {
          participants: [north, south],
          payload: { sku: 'A-1', quantity: 2 },
        });
        args.context.reservation = { txId, votes: [] };
      }

      @Compensate('reserve')
      async unreserve(args: StepArgs<Ctx>): Promise<void> {
        await compensateTwoPhase(coordinator, args, { participants: [north, south] });
      }

      @SagaStep('charge')
      charge(): void {
        throw new Error('card declined');
      }
    }

    const state = await (await orchestrator.start(sagaDefinitionOf<Ctx>(new OrderSaga()), input())).result;
    expect(state.status).toBe('compensated');
    expect(state.context.reservation?.txId).toBe('s1:reserve');
    expect(north.compensated).toEqual(['s1:reserve']);
    expect(south.compensated).toEqual(['s1:reserve']);
  });

  it('throws TwoPhaseAbortedError with the votes when a participant refuses', async () => {
    const { coordinator, north, south } = setup();
    north.vote = 'no';
    const error = await runTwoPhase(
      coordinator,
      { sagaId: 's9', step: 'reserve', signal: new AbortController().signal },
      { participants: [north, south] },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TwoPhaseAbortedError);
    expect((error as TwoPhaseAbortedError).details).toEqual({
      txId: 's9:reserve',
      votes: [
        { participant: 'north', vote: 'no', error: { name: 'Error', message: 'north refuses s9:reserve' } },
        { participant: 'south', vote: 'yes' },
      ],
    });
  });
});

describe('twoPhaseStep across a crash (two orchestrator instances, one coordinator each)', () => {
  function twoInstances() {
    const { clock, store, instance } = cluster();
    const log = new MemoryCoordinatorLog({ clock });
    const north = new Warehouse('north');
    const south = new Warehouse('south');
    const coordinatorOf = (owner: string, timers: SagaTimers, of: CoordinatorLog = log) =>
      new TwoPhaseCoordinator({
        log: of,
        participants: [north, south],
        timers,
        owner,
        prepareTimeoutMs: 1_000,
        leaseMs: 5_000,
        retry: { initialDelayMs: 100, maxDelayMs: 400, jitter: 'none' },
      });
    const definition = (coordinator: TwoPhaseCoordinator) =>
      defineSaga<Ctx>('order')
        .step('reserve', twoPhaseStep<Ctx>({ coordinator, participants: [north, south] }))
        .step('ship', undoable('ship'))
        .build();
    return { clock, store, instance, log, north, south, coordinatorOf, definition };
  }

  it('A dies in the prepare phase: B resumes the step, waits out the lease, aborts the transaction and compensates', async () => {
    const { instance, log, north, south, coordinatorOf, definition, store } = twoInstances();
    const a = instance('A');
    const coordinatorA = coordinatorOf('cA', a.timers);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const prepare = north.prepare.bind(north);
    north.prepare = async (txId, payload, s) => {
      north.calls.push('(gated)');
      await gate;
      return prepare(txId, payload, s);
    };
    const handleA = await a.orchestrator.start(definition(coordinatorA), input());
    await flushMicrotasks();
    expect(north.calls).toEqual(['(gated)']);
    a.store.crash(); // A's process is dead: its timers never fire again

    const b = instance('B');
    b.orchestrator.register(definition(coordinatorOf('cB', b.timers)));
    await b.timers.advance(LEASE_MS);
    expect(await b.orchestrator.resumeNow()).toEqual([handleA.sagaId]);
    // B's step joins the transaction; cA's lease (5 s from the start) still holds: B waits.
    await b.timers.advance(1_000);
    await expect(log.outcome(`${handleA.sagaId}:reserve`)).resolves.toBe('undecided');
    await b.timers.advance(1_600);
    const state = await (await b.orchestrator.get<Ctx>(handleA.sagaId)).result;
    expect(state.status).toBe('failed');
    expect(state.error?.code).toBe('POTTER_TWOPC_ABORTED');
    expect(south.calls).toEqual([`prepare ${handleA.sagaId}:reserve`, `rollback ${handleA.sagaId}:reserve`]);

    // A's prepare answers late: its commit decision loses, it rolls back too.
    open();
    await flushMicrotasks();
    await a.timers.advance(0);
    expect(north.states.get(`${handleA.sagaId}:reserve`)).toBe('rolled-back');
    expect([...north.violations, ...south.violations]).toEqual([]);
    expect((await log.unfinished()).length).toBe(0);
    expect((await store.load(handleA.sagaId))?.status).toBe('failed');
  });

  it('A dies after the commit decision: B resumes the step, finishes the commit and completes the saga', async () => {
    const { instance, log, north, south, coordinatorOf, definition } = twoInstances();
    const a = instance('A');
    // A's view of the log dies right after the decision is written.
    let dead = false;
    const aLog = wrapLog(log, {
      decide: async (txId, decision) => {
        const decided = await log.decide(txId, decision);
        dead = true;
        return decided;
      },
      markDone: (txId, participant) =>
        dead ? new Promise<void>(() => undefined) : log.markDone(txId, participant),
    });
    const handleA = await a.orchestrator.start(definition(coordinatorOf('cA', a.timers, aLog)), input());
    await flushMicrotasks();
    const txId = `${handleA.sagaId}:reserve`;
    await expect(log.outcome(txId)).resolves.toBe('commit');
    a.store.crash();

    const b = instance('B');
    b.orchestrator.register(definition(coordinatorOf('cB', b.timers)));
    await b.timers.advance(LEASE_MS);
    expect(await b.orchestrator.resumeNow()).toEqual([handleA.sagaId]);
    await b.timers.advance(2_400);
    const state = await (await b.orchestrator.get<Ctx>(handleA.sagaId)).result;
    expect(state.status).toBe('completed');
    expect(state.context.log).toEqual(['ship']);
    expect(count(north, `prepare ${txId}`)).toBe(1);
    expect(count(south, `prepare ${txId}`)).toBe(1);
    expect(north.states.get(txId)).toBe('committed');
    expect(south.states.get(txId)).toBe('committed');
    await expect(log.get(txId)).resolves.toMatchObject({ completed: true, decision: 'commit' });
    expect([...north.violations, ...south.violations]).toEqual([]);
  });
});
