import { ManualClock } from 'potter/testing';
import {
  SagaCancelledError,
  SagaConflictError,
  SagaOwnershipLostError,
  SagaStateError,
  defineSaga,
  delay,
  type SagaDefinition,
  type StepArgs,
  type TimerService,
} from '../../../src/saga';
import { MemoryTimerService } from '../../../src/saga/memory-timer-service';
import { LEASE_MS, cluster, type Instance } from './cluster';
import { hang } from './fixtures';
import { ManualTimers, flush } from './manual-timers';

interface Ctx {
  log: string[];
}

const input = (): Ctx => ({ log: [] });

interface Call {
  /** The instance that ran the call. */
  by: string;
  step: string;
  attempt: number;
  key: string;
  at: number;
}

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * Step options that record every call of `execute` and `compensate` in `calls` (as `step` and
 * `step:compensate`) and log `step` / `undo step` into the context.
 */
function recorded(
  by: string,
  calls: Call[],
  now: () => number,
  behaviour: {
    execute?: (args: StepArgs<Ctx>) => unknown;
    compensate?: ((args: StepArgs<Ctx>) => unknown) | false;
  } = {},
) {
  const record = (args: StepArgs<Ctx>, suffix: string): void =>
    void calls.push({
      by,
      step: `${args.step}${suffix}`,
      attempt: args.attempt,
      key: args.idempotencyKey,
      at: now(),
    });
  return {
    execute: async (args: StepArgs<Ctx>) => {
      record(args, '');
      await behaviour.execute?.(args);
      args.context.log.push(args.step);
    },
    ...(behaviour.compensate === false
      ? {}
      : {
          compensate: async (args: StepArgs<Ctx>) => {
            record(args, ':compensate');
            const compensate = behaviour.compensate;
            if (typeof compensate === 'function') await compensate(args);
            args.context.log.push(`undo ${args.step}`);
          },
        }),
  };
}

/** What the calls of `by` were, as `step#attempt`. */
const callsOf = (calls: Call[], by: string): string[] =>
  calls.filter((c) => c.by === by).map((c) => `${c.step}#${c.attempt}`);

describe('resume: a saga whose owner died', () => {
  it('is taken over after the lease: the step in flight runs again with the same key and attempt, and the late save of the old owner is refused', async () => {
    const { instance, store, clock } = cluster();
    const a = instance('A');
    const calls: Call[] = [];
    const late = gate();
    const order = (by: string): SagaDefinition<Ctx> =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), {
            // A stalls here (and its process "dies": its timers never fire again).
            execute: () => (by === 'A' ? late.promise : undefined),
          }),
        )
        .step(
          'ship',
          recorded(by, calls, () => clock.now()),
        )
        .build();

    const handleA = await a.orchestrator.start(order('A'), input());
    await flush();
    const inFlight = await store.load(handleA.sagaId);
    expect(inFlight).toMatchObject({
      status: 'running',
      currentStep: 'charge',
      completedSteps: ['reserve'],
      attempts: { reserve: 1, charge: 1 },
    });

    const b = instance('B');
    b.orchestrator.register(order('B'));
    await b.timers.advance(LEASE_MS - 1);
    expect(await b.orchestrator.resumeNow()).toEqual([]); // A's lease still holds
    await b.timers.advance(1);
    expect(await b.orchestrator.resumeNow()).toEqual([handleA.sagaId]);
    const stateB = await (await b.orchestrator.get<Ctx>(handleA.sagaId)).result;

    expect(stateB.status).toBe('completed');
    expect(stateB.context.log).toEqual(['reserve', 'charge', 'ship']);
    expect(stateB.attempts).toEqual({ reserve: 1, charge: 1, ship: 1 });
    expect(callsOf(calls, 'A')).toEqual(['reserve#1', 'charge#1']);
    expect(callsOf(calls, 'B')).toEqual(['charge#1', 'ship#1']);
    expect(new Set(calls.filter((c) => c.step === 'charge').map((c) => c.key))).toEqual(
      new Set([`${handleA.sagaId}:charge`]),
    );
    expect(b.trail()).toEqual([
      'saga.step.started:charge',
      'saga.step.completed:charge',
      'saga.step.started:ship',
      'saga.step.completed:ship',
      'saga.completed',
    ]);

    // A wakes up: its save is refused, its result rejects, and the store keeps B's outcome.
    const savesBefore = store.saves.length;
    late.open();
    await expect(handleA.result).rejects.toBeInstanceOf(SagaOwnershipLostError);
    await flush();
    expect(store.saves.length).toBe(savesBefore);
    expect(await store.load(handleA.sagaId)).toEqual(stateB);
    expect(a.trail()).not.toContain('saga.step.completed:charge');
    expect(a.warnings).toContain('Saga lease lost: another instance runs it now');
    // Nothing A does later writes either.
    expect(await a.orchestrator.cancel(handleA.sagaId)).toBe(false);
    expect(store.saves.length).toBe(savesBefore);
  });
});

describe('resume: each status', () => {
  /** A is dead from the start of the test's interest; B takes over once A's lease has expired. */
  async function takeOver(b: Instance, definition: SagaDefinition<Ctx>): Promise<string[]> {
    b.orchestrator.register(definition);
    await b.timers.advance(LEASE_MS);
    return b.orchestrator.resumeNow();
  }

  it('pending: starts it (saga.started) and runs every step', async () => {
    const { instance, store, clock } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now()),
        )
        .build();
    // start() creates sagas already running; a pending one comes from a writer that died between
    // creating it and starting it (as earlier versions did in two writes).
    const now = clock.now();
    await store.create(
      {
        sagaId: 's',
        sagaName: 'order',
        correlationId: 's',
        status: 'pending',
        context: input(),
        completedSteps: [],
        skippedSteps: [],
        compensatedSteps: [],
        attempts: {},
        compensationAttempts: {},
        startedAt: now,
        updatedAt: now,
        version: 1,
      },
      { owner: 'A', leaseMs: 1_000 },
    );
    expect(await store.load('s')).toMatchObject({ status: 'pending', version: 1 });

    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual(['s']);
    const state = await (await b.orchestrator.get<Ctx>('s')).result;
    expect(state.status).toBe('completed');
    expect(state.context.log).toEqual(['reserve', 'charge']);
    expect(callsOf(calls, 'A')).toEqual([]);
    expect(b.trail()).toEqual([
      'saga.started',
      'saga.step.started:reserve',
      'saga.step.completed:reserve',
      'saga.step.started:charge',
      'saga.step.completed:charge',
      'saga.completed',
    ]);
  });

  it('running in a parallel group with one branch done: runs the other branches only, then goes on', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .parallel('checks', [
          { name: 'fraud', ...recorded(by, calls, () => clock.now()) },
          {
            name: 'credit',
            ...recorded(by, calls, () => clock.now(), { execute: () => (by === 'A' ? hang() : undefined) }),
          },
        ])
        .step(
          'ship',
          recorded(by, calls, () => clock.now()),
        )
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    expect(handle.state).toMatchObject({ currentStep: 'checks', completedSteps: ['reserve', 'fraud'] });

    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual([handle.sagaId]);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;
    expect(state.status).toBe('completed');
    expect(callsOf(calls, 'A')).toEqual(['reserve#1', 'fraud#1', 'credit#1']);
    expect(callsOf(calls, 'B')).toEqual(['credit#1', 'ship#1']);
    expect(calls.filter((c) => c.step === 'credit').map((c) => c.key)).toEqual([
      `${handle.sagaId}:credit`,
      `${handle.sagaId}:credit`,
    ]);
    expect(state.completedSteps).toEqual(['reserve', 'fraud', 'credit', 'ship']);
    expect(state.context.log).toEqual(['reserve', 'fraud', 'credit', 'ship']);
  });

  it('waiting for a retry: waits only what is left of the delay, then makes the next attempt', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step('charge', {
          ...recorded(by, calls, () => clock.now(), {
            execute: ({ attempt }) => {
              if (attempt === 1) throw new Error('gateway down');
            },
          }),
          retry: { maxAttempts: 3, initialDelayMs: 10_000, maxDelayMs: 10_000, jitter: 'none' },
        })
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    const started = clock.now();
    expect((await store.load(handle.sagaId))?.nextAttemptAt).toEqual({ charge: started + 10_000 });

    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual([handle.sagaId]);
    await b.timers.advance(10_000 - LEASE_MS - 1);
    expect(callsOf(calls, 'B')).toEqual([]);
    await b.timers.advance(1);
    expect(callsOf(calls, 'B')).toEqual(['charge#2']);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;
    expect(state.status).toBe('completed');
    expect(state.attempts).toEqual({ charge: 2 });
    expect(state.nextAttemptAt).toBeUndefined();
    expect(calls.map((c) => [c.by, c.attempt, c.at])).toEqual([
      ['A', 1, started],
      ['B', 2, started + 10_000],
    ]);
  });

  it('waiting for a retry that is already due: makes the next attempt at once', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step('charge', {
          ...recorded(by, calls, () => clock.now(), {
            execute: ({ attempt }) => {
              if (attempt === 1) throw new Error('gateway down');
            },
          }),
          retry: { maxAttempts: 3, initialDelayMs: 1_000, jitter: 'none' },
        })
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual([handle.sagaId]);
    await b.timers.advance(0);
    expect(calls.map((c) => [c.by, c.attempt, c.at])).toEqual([
      ['A', 1, 1_000],
      ['B', 2, 1_000 + LEASE_MS],
    ]);
    expect((await (await b.orchestrator.get(handle.sagaId)).result).status).toBe('completed');
  });

  it('compensating: continues in reverse order from where it stopped, the compensation in flight again with the same key and attempt', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), { compensate: () => (by === 'A' ? hang() : 0) }),
        )
        .step(
          'notify',
          recorded(by, calls, () => clock.now(), { compensate: false }),
        )
        .step(
          'pack',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'ship',
          recorded(by, calls, () => clock.now(), {
            execute: () => {
              throw new Error('no truck');
            },
          }),
        )
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    expect(await store.load(handle.sagaId)).toMatchObject({
      status: 'compensating',
      currentStep: 'charge',
      compensatedSteps: ['pack'],
      compensationAttempts: { pack: 1, charge: 1 },
    });

    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual([handle.sagaId]);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;

    expect(state.status).toBe('compensated');
    expect(state.error).toEqual({ name: 'Error', message: 'no truck' });
    expect(callsOf(calls, 'B')).toEqual(['charge:compensate#1', 'reserve:compensate#1']);
    expect(calls.filter((c) => c.step === 'charge:compensate').map((c) => [c.by, c.key])).toEqual([
      ['A', `${handle.sagaId}:charge:compensate`],
      ['B', `${handle.sagaId}:charge:compensate`],
    ]);
    expect(state.compensatedSteps).toEqual(['pack', 'charge', 'reserve']);
    expect(state.compensationAttempts).toEqual({ pack: 1, charge: 1, reserve: 1 });
    expect(b.trail()).toEqual([
      'saga.compensation.started:charge',
      'saga.compensation.completed:charge',
      'saga.compensation.started:reserve',
      'saga.compensation.completed:reserve',
      'saga.compensated',
    ]);
  });

  it('compensating, waiting to retry a failed compensation: waits what is left of the delay, then makes the next attempt', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step('reserve', {
          ...recorded(by, calls, () => clock.now(), {
            compensate: ({ attempt }) => {
              if (attempt === 1) throw new Error('stock service down');
            },
          }),
          compensationRetry: { maxAttempts: 3, initialDelayMs: 10_000, maxDelayMs: 10_000, jitter: 'none' },
        })
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), {
            execute: () => {
              throw new Error('declined');
            },
          }),
        )
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    expect(await store.load(handle.sagaId)).toMatchObject({
      status: 'compensating',
      compensationAttempts: { reserve: 1 },
      nextAttemptAt: { reserve: 1_000 + 10_000 },
    });

    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual([handle.sagaId]);
    await b.timers.advance(10_000 - LEASE_MS - 1);
    expect(callsOf(calls, 'B')).toEqual([]);
    await b.timers.advance(1);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;
    expect(state.status).toBe('compensated');
    expect(calls.filter((c) => c.step === 'reserve:compensate').map((c) => [c.by, c.attempt, c.at])).toEqual([
      ['A', 1, 1_000],
      ['B', 2, 11_000],
    ]);
    expect(state.nextAttemptAt).toBeUndefined();
  });

  it('compensating after a crash: the retry budget of the round goes on (3 attempts in all, not 3 more), and an operator retry starts a new round', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step('reserve', {
          ...recorded(by, calls, () => clock.now(), {
            compensate: () => {
              throw new Error('stock service down');
            },
          }),
          compensationRetry: { maxAttempts: 3, initialDelayMs: 1_000, maxDelayMs: 1_000, jitter: 'none' },
        })
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), {
            execute: () => {
              throw new Error('declined');
            },
          }),
        )
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    await a.timers.advance(1_000); // the second attempt fails too: A waits for the third, and dies
    expect(await store.load(handle.sagaId)).toMatchObject({
      status: 'compensating',
      compensationAttempts: { reserve: 2 },
      compensationRoundStart: { reserve: 0 },
    });

    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual([handle.sagaId]);
    for (let i = 0; i < 5; i++) await b.timers.advance(1_000);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;
    expect(state.status).toBe('compensation_failed');
    expect(calls.filter((c) => c.step === 'reserve:compensate').map((c) => `${c.by}#${c.attempt}`)).toEqual([
      'A#1',
      'A#2',
      'B#3',
    ]);
    expect(state.compensationRoundStart).toBeUndefined();

    // The operator's retry is a new round of 3 attempts (4, 5, 6).
    const retried = b.orchestrator.retryCompensation(handle.sagaId);
    for (let i = 0; i < 5; i++) await b.timers.advance(1_000);
    const again = await retried;
    expect(again.status).toBe('compensation_failed');
    expect(again.compensationAttempts).toEqual({ reserve: 6 });
  });

  it('deadline passed while nobody held it: times it out at once and compensates, the step in flight included', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), { execute: () => (by === 'A' ? hang() : 0) }),
        )
        .step(
          'ship',
          recorded(by, calls, () => clock.now()),
        )
        .timeout(10_000)
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    expect(handle.state.deadlineAt).toBe(11_000);

    const b = instance('B');
    b.orchestrator.register(order('B'));
    await b.timers.advance(10_000);
    expect(await b.orchestrator.resumeNow()).toEqual([handle.sagaId]);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;

    expect(state.status).toBe('compensated');
    expect(state.error).toMatchObject({ name: 'TimeoutError' });
    // charge was in flight when A died: its effect is unknown, so it is compensated (not run again).
    expect(callsOf(calls, 'B')).toEqual(['charge:compensate#1', 'reserve:compensate#1']);
    expect(state.context.log).toEqual(['reserve', 'undo charge', 'undo reserve']);
    expect(b.trail()).toEqual([
      'saga.failed',
      'saga.compensation.started:charge',
      'saga.compensation.completed:charge',
      'saga.compensation.started:reserve',
      'saga.compensation.completed:reserve',
      'saga.compensated',
    ]);
  });

  it('cancelled, but its owner died before compensating: compensates and ends cancelled (nothing more runs forward)', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), { execute: () => (by === 'A' ? hang() : 0) }),
        )
        .step(
          'ship',
          recorded(by, calls, () => clock.now()),
        )
        .build();
    const a = instance('A');
    a.store.crashOn = (state) => state.status === 'compensating';
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    expect(await a.orchestrator.cancel(handle.sagaId, 'customer left')).toBe(true);
    await flush();
    expect(await store.load(handle.sagaId)).toMatchObject({ status: 'running', cancelled: true });

    const b = instance('B');
    expect(await takeOver(b, order('B'))).toEqual([handle.sagaId]);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;
    expect(state.status).toBe('cancelled');
    expect(callsOf(calls, 'B')).toEqual(['charge:compensate#1', 'reserve:compensate#1']);
    expect(b.trail().at(-1)).toBe('saga.cancelled');
  });
});

describe('resume: claiming', () => {
  it('releases the sagas of unknown definitions at once (another instance resumes them), and resumes its own even when those come first', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const stuck = (name: string, by: string) =>
      defineSaga<Ctx>(name)
        .step(
          'work',
          recorded(by, calls, () => clock.now(), { execute: () => (by === 'A' ? hang() : 0) }),
        )
        .build();
    const a = instance('A');
    const legacyOfA = stuck('legacy', 'A');
    const old1 = await a.orchestrator.start(legacyOfA, input());
    clock.advance(1);
    const old2 = await a.orchestrator.start(legacyOfA, input());
    clock.advance(1);
    const mine = await a.orchestrator.start(stuck('order', 'A'), input());
    await flush();

    // B knows only `order`, and claims one saga at a time: the two legacy sagas come first.
    const b = instance('B', { resumeBatchSize: 1 });
    b.orchestrator.register(stuck('order', 'B'));
    await b.timers.advance(LEASE_MS);
    expect(await b.orchestrator.resumeNow()).toEqual([mine.sagaId]);
    expect(b.warnings).toContain('Unfinished sagas of unknown definitions were left for another instance');
    expect((await (await b.orchestrator.get(mine.sagaId)).result).status).toBe('completed');

    // C knows `legacy` and gets them without waiting for a lease to expire.
    const c = instance('C', { timers: b.timers });
    c.orchestrator.register(stuck('legacy', 'C'));
    expect((await c.orchestrator.resumeNow()).sort()).toEqual([old1.sagaId, old2.sagaId].sort());
    await flush();
    expect(callsOf(calls, 'C')).toEqual(['work#1', 'work#1']);
  });

  it('stop() detaches the sagas running here and releases them: another instance resumes them at once', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    let signalA: AbortSignal | undefined;
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), {
            execute: ({ signal }) => {
              if (by !== 'A') return undefined;
              signalA = signal;
              return hang();
            },
          }),
        )
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();
    const saves = store.saves.length;

    await a.orchestrator.stop();
    expect(signalA?.reason).toBeInstanceOf(SagaOwnershipLostError);
    await expect(handle.result).rejects.toBeInstanceOf(SagaOwnershipLostError);
    expect(store.saves.length).toBe(saves); // the aborted attempt was not recorded as failed
    expect(a.timers.pending(Infinity)).toEqual([]); // no heartbeat left behind

    const b = instance('B', { timers: a.timers });
    b.orchestrator.register(order('B'));
    expect(await b.orchestrator.resumeNow()).toEqual([handle.sagaId]);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;
    expect(state.status).toBe('completed');
    expect(callsOf(calls, 'B')).toEqual(['charge#1']);
  });

  it('keeps a long step owned past several lease periods by renewing its lease', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const shared = new ManualTimers(clock);
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'long',
          recorded(by, calls, () => clock.now(), {
            execute: ({ signal }) => delay(shared, 5 * LEASE_MS, signal),
          }),
        )
        .build();
    const a = instance('A', { timers: shared });
    const b = instance('B', { timers: shared });
    b.orchestrator.register(order('B'));
    await b.orchestrator.resume();
    const handle = await a.orchestrator.start(order('A'), input());
    for (let i = 0; i < 5 * 3; i++) {
      await shared.advance(LEASE_MS / 3 - 1);
      expect(await b.orchestrator.resumeNow()).toEqual([]);
      await shared.advance(1);
    }
    const state = await handle.result;
    expect(state.status).toBe('completed');
    expect(calls.map((c) => c.by)).toEqual(['A']);
    expect(b.events).toEqual([]);
    await b.orchestrator.stop();
  });
});

describe('resume: cancellation across instances', () => {
  it('cancel() on another instance: the owner cancels on its next renewal', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const shared = new ManualTimers(clock);
    let reason: unknown;
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), {
            execute: ({ signal }) => {
              signal.addEventListener('abort', () => (reason = signal.reason));
              return hang();
            },
          }),
        )
        .build();
    const a = instance('A', { timers: shared });
    const b = instance('B', { timers: shared, resultPollMs: 100 });
    b.orchestrator.register(order('B'));
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();

    expect(await b.orchestrator.cancel(handle.sagaId, 'customer left')).toBe(true);
    const remote = await b.orchestrator.get<Ctx>(handle.sagaId);
    expect(remote.status).toBe('running');
    await flush();
    expect(reason).toBeUndefined(); // not before A's renewal
    await shared.advance(LEASE_MS / 3);
    const state = await handle.result;

    expect(reason).toBeInstanceOf(SagaCancelledError);
    expect(state.status).toBe('cancelled');
    expect(state.error?.message).toMatch(/cancelled: customer left/);
    // The interrupted charge's effect is unknown: it is compensated too.
    expect(state.context.log).toEqual(['reserve', 'undo charge', 'undo reserve']);
    expect(callsOf(calls, 'B')).toEqual([]);
    await shared.advance(100);
    expect(await remote.result).toEqual(state);
    expect(remote.status).toBe('cancelled');
    expect(await store.load(handle.sagaId)).toEqual(state);
    expect(await b.orchestrator.cancel(handle.sagaId)).toBe(false);
  });

  it('cancel() of a saga whose owner died: cancelled by the instance that claims it, without running the step in flight again', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), { execute: () => (by === 'A' ? hang() : 0) }),
        )
        .step(
          'ship',
          recorded(by, calls, () => clock.now()),
        )
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();

    const b = instance('B');
    b.orchestrator.register(order('B'));
    expect(await b.orchestrator.cancel(handle.sagaId, 'too late')).toBe(true);
    await b.timers.advance(LEASE_MS);
    expect(await b.orchestrator.resumeNow()).toEqual([handle.sagaId]);
    const state = await (await b.orchestrator.get<Ctx>(handle.sagaId)).result;

    expect(state.status).toBe('cancelled');
    expect(state.error?.message).toMatch(/cancelled: too late/);
    expect(callsOf(calls, 'B')).toEqual(['charge:compensate#1', 'reserve:compensate#1']);
    expect(b.trail()).not.toContain('saga.step.started:charge');
    expect(b.trail().at(-1)).toBe('saga.cancelled');
  });
});

describe('business keys', () => {
  it('rejects a second open saga with the key, or joins it (same result), and allows it again once settled', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const shared = new ManualTimers(clock);
    const open = gate();
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now(), { execute: () => open.promise }),
        )
        .build();
    const a = instance('A', { timers: shared });
    const b = instance('B', { timers: shared, resultPollMs: 50 });
    const orderOfA = order('A');
    const orderOfB = order('B');
    const first = await a.orchestrator.start(orderOfA, input(), { businessKey: 'order-1' });

    await expect(a.orchestrator.start(orderOfA, input(), { businessKey: 'order-1' })).rejects.toThrow(
      SagaConflictError,
    );
    await expect(b.orchestrator.start(orderOfB, input(), { businessKey: 'order-1' })).rejects.toThrow(
      /is open for business key order-1/,
    );
    const joinedHere = await a.orchestrator.start(orderOfA, input(), {
      businessKey: 'order-1',
      onConflict: 'join',
    });
    const joinedThere = await b.orchestrator.start(orderOfB, input(), {
      businessKey: 'order-1',
      onConflict: 'join',
    });
    expect(joinedHere.sagaId).toBe(first.sagaId);
    expect(joinedHere.result).toBe(first.result);
    expect(joinedThere.sagaId).toBe(first.sagaId);
    // Another key, or another saga type, is no conflict.
    const other = await b.orchestrator.start(orderOfB, input(), { businessKey: 'order-2' });
    expect(other.sagaId).not.toBe(first.sagaId);

    open.open();
    const state = await first.result;
    await shared.advance(50);
    expect(await joinedThere.result).toEqual(state);
    expect(calls.filter((c) => c.key === `${first.sagaId}:reserve`).map((c) => c.by)).toEqual(['A']);

    const again = await b.orchestrator.start(orderOfB, input(), { businessKey: 'order-1' });
    expect(again.sagaId).not.toBe(first.sagaId);
    expect((await again.result).status).toBe('completed');
  });
});

describe('operator actions on another instance', () => {
  function failing(by: string, calls: Call[], now: () => number, fixed: { value: boolean }) {
    return defineSaga<Ctx>('order')
      .step(
        'reserve',
        recorded(by, calls, now, {
          compensate: () => {
            if (!fixed.value) throw new Error('stock service down');
          },
        }),
      )
      .step(
        'charge',
        recorded(by, calls, now, {
          execute: () => {
            throw new Error('declined');
          },
        }),
      )
      .compensationRetry({ maxAttempts: 1 })
      .build();
  }

  it('retryCompensation from another instance than the one that ran the saga', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const fixed = { value: false };
    const shared = new ManualTimers(clock);
    const a = instance('A', { timers: shared, resultPollMs: 10 });
    const b = instance('B', { timers: shared });
    const failed = await (
      await a.orchestrator.start(
        failing('A', calls, () => clock.now(), fixed),
        input(),
      )
    ).result;
    expect(failed.status).toBe('compensation_failed');

    await expect(b.orchestrator.retryCompensation(failed.sagaId)).rejects.toThrow(/no definition order/);
    b.orchestrator.register(failing('B', calls, () => clock.now(), fixed));
    fixed.value = true;
    const remote = await a.orchestrator.get<Ctx>(failed.sagaId);
    const state = await b.orchestrator.retryCompensation<Ctx>(failed.sagaId);

    expect(state.status).toBe('compensated');
    expect(state.compensationAttempts).toEqual({ reserve: 2 });
    expect(state.compensationError).toBeUndefined();
    expect(calls.map((c) => `${c.by}:${c.step}#${c.attempt}`)).toEqual([
      'A:reserve#1',
      'A:charge#1',
      'A:reserve:compensate#1',
      'B:reserve:compensate#2',
    ]);
    expect(await store.load(failed.sagaId)).toEqual(state);
    await shared.advance(10);
    expect(remote.state).toEqual(failed);
    expect(await remote.result).toEqual(failed); // compensation_failed was settled when read
    expect((await a.orchestrator.get(failed.sagaId)).status).toBe('compensated');
    await expect(a.orchestrator.retryCompensation(failed.sagaId)).rejects.toBeInstanceOf(SagaStateError);
  });

  it('markResolved from another instance than the one that ran the saga', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const a = instance('A');
    const b = instance('B');
    const failed = await (
      await a.orchestrator.start(
        failing('A', calls, () => clock.now(), { value: false }),
        input(),
      )
    ).result;
    b.orchestrator.register(failing('B', calls, () => clock.now(), { value: false }));

    const state = await b.orchestrator.markResolved<Ctx>(failed.sagaId, 'refunded by hand');
    expect(state.status).toBe('resolved');
    expect(state.resolution).toBe('refunded by hand');
    expect(b.trail()).toEqual(['saga.resolved']);
    expect(await store.load(failed.sagaId)).toEqual(state);
    await expect(a.orchestrator.markResolved(failed.sagaId)).rejects.toBeInstanceOf(SagaStateError);
    // Nothing is left held: the key (if any) and the saga are free, and no other saga runs.
    expect(await b.orchestrator.resumeNow()).toEqual([]);
  });
});

describe('durable deadline (TimerService)', () => {
  const timerId = (sagaId: string): string => `potter.saga.deadline:${sagaId}`;

  it('schedules the deadline timer at start and cancels it when the saga completes', async () => {
    const { instance, clock } = cluster();
    const timers = new ManualTimers(clock);
    const timerService = new MemoryTimerService({ clock, timers });
    const open = gate();
    const a = instance('A', { timers, timerService });
    const definition = defineSaga<Ctx>('order')
      .step('reserve', { execute: () => open.promise })
      .timeout(60_000)
      .build();
    const handle = await a.orchestrator.start(definition, input());
    expect(await timerService.get(timerId(handle.sagaId))).toMatchObject({
      kind: 'potter.saga.deadline',
      dueAt: 61_000,
      payload: { sagaId: handle.sagaId },
    });
    open.open();
    expect((await handle.result).status).toBe('completed');
    expect(await timerService.get(timerId(handle.sagaId))).toBeUndefined();
  });

  it('cancels the deadline timer when the saga fails', async () => {
    const { instance, clock } = cluster();
    const timers = new ManualTimers(clock);
    const timerService = new MemoryTimerService({ clock, timers });
    const a = instance('A', { timers, timerService });
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        execute: () => {
          throw new Error('no');
        },
      })
      .timeout(60_000)
      .build();
    const handle = await a.orchestrator.start(definition, input());
    expect((await handle.result).status).toBe('failed');
    expect(await timerService.get(timerId(handle.sagaId))).toBeUndefined();
  });

  it('a deadline firing on an instance that does not run the saga makes the owner time it out', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    // One timer table, fired by B's process on the database clock (a little ahead of the
    // instances' clock, so A's own in-process deadline timer is not what times the saga out).
    const dbClock = new ManualClock(clock.now());
    const dbTimers = new ManualTimers(dbClock);
    const table = new MemoryTimerService({ clock: dbClock, timers: dbTimers });
    const viewOfA: TimerService = {
      schedule: (timer) => table.schedule(timer),
      cancel: (id) => table.cancel(id),
      get: (id) => table.get(id),
      handle: () => undefined, // A's process does not fire timers
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
    };
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now()),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), { execute: () => hang() }),
        )
        .timeout(60_000)
        .build();
    const a = instance('A', { timerService: viewOfA });
    const b = instance('B', { timerService: table });
    b.orchestrator.register(order('B'));
    await b.orchestrator.resume(); // starts B's timer service
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();

    await dbTimers.advance(60_000); // the deadline fires on B
    expect(await table.get(timerId(handle.sagaId))).toBeUndefined();
    expect(b.events).toEqual([]); // B does not run it
    expect(handle.status).toBe('running');
    await a.timers.advance(LEASE_MS / 3); // A's next renewal sees the request
    const state = await handle.result;

    expect(state.status).toBe('compensated');
    expect(state.error).toMatchObject({ name: 'TimeoutError' });
    expect(clock.now()).toBeLessThan(handle.state.deadlineAt!);
    expect(callsOf(calls, 'A')).toEqual([
      'reserve#1',
      'charge#1',
      'charge:compensate#1',
      'reserve:compensate#1',
    ]);
    expect(callsOf(calls, 'B')).toEqual([]);
    await b.orchestrator.stop();
  });
});

describe('failures around resuming and operator actions', () => {
  it('resume(): a first claim round that fails rejects, and the next rounds still run', async () => {
    const { instance, clock } = cluster();
    const calls: Call[] = [];
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'work',
          recorded(by, calls, () => clock.now(), { execute: () => (by === 'A' ? hang() : 0) }),
        )
        .build();
    const a = instance('A');
    const handle = await a.orchestrator.start(order('A'), input());
    await flush();

    const b = instance('B');
    b.orchestrator.register(order('B'));
    await b.timers.advance(LEASE_MS);
    jest.spyOn(b.store, 'claim').mockRejectedValueOnce(new Error('database down'));
    await expect(b.orchestrator.resume()).rejects.toThrow('database down');
    expect(callsOf(calls, 'B')).toEqual([]);
    await b.timers.advance(LEASE_MS / 2); // the next round
    expect(callsOf(calls, 'B')).toEqual(['work#1']);
    expect((await (await b.orchestrator.get(handle.sagaId)).result).status).toBe('completed');
    await b.orchestrator.stop();
  });

  it('start(): a deadline timer that cannot be scheduled does not keep the saga from running', async () => {
    const { instance } = cluster();
    const timerService: TimerService = {
      schedule: () => Promise.reject(new Error('timers table gone')),
      cancel: () => Promise.resolve(false),
      get: () => Promise.resolve(undefined),
      handle: () => undefined,
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
    };
    const a = instance('A', { timerService });
    const definition = defineSaga<Ctx>('order')
      .step('work', { execute: ({ context }) => void context.log.push('work') })
      .timeout(60_000)
      .build();
    const handle = await a.orchestrator.start(definition, input());
    const state = await handle.result;
    expect(state.status).toBe('completed');
    expect(state.deadlineAt).toBe(61_000);
    expect(a.warnings).toContain('Could not schedule a saga deadline timer');
  });

  it('retryCompensation / markResolved that fail to save can be tried again, here or on another instance', async () => {
    const { instance, clock, store } = cluster();
    const calls: Call[] = [];
    const fixed = { value: false };
    const order = (by: string) =>
      defineSaga<Ctx>('order')
        .step(
          'reserve',
          recorded(by, calls, () => clock.now(), {
            compensate: () => {
              if (!fixed.value) throw new Error('stock service down');
            },
          }),
        )
        .step(
          'charge',
          recorded(by, calls, () => clock.now(), {
            execute: () => {
              throw new Error('declined');
            },
          }),
        )
        .compensationRetry({ maxAttempts: 1 })
        .build();
    const a = instance('A');
    const b = instance('B');
    const c = instance('C');
    b.orchestrator.register(order('B'));
    c.orchestrator.register(order('C'));
    const orderOfA = order('A');
    const first = await (await a.orchestrator.start(orderOfA, input())).result;
    const second = await (await a.orchestrator.start(orderOfA, input())).result;
    expect([first.status, second.status]).toEqual(['compensation_failed', 'compensation_failed']);
    fixed.value = true;

    jest.spyOn(b.store, 'save').mockRejectedValueOnce(new Error('database down'));
    await expect(b.orchestrator.retryCompensation(first.sagaId)).rejects.toThrow('database down');
    expect((await b.orchestrator.retryCompensation(first.sagaId)).status).toBe('compensated');

    jest.spyOn(b.store, 'save').mockRejectedValueOnce(new Error('database down'));
    await expect(b.orchestrator.markResolved(second.sagaId)).rejects.toThrow('database down');
    // B let go of it: C (whose lease would otherwise have to wait for B's) resolves it at once.
    expect((await c.orchestrator.markResolved(second.sagaId, 'by hand')).status).toBe('resolved');
    expect((await store.load(second.sagaId))?.resolution).toBe('by hand');
  });
});
