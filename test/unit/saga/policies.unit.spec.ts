import { TimeoutError } from 'potter';
import { SagaStateError, defineSaga, type StepArgs } from '../../../src/saga';
import { hang, setup } from './fixtures';
import { flush } from './manual-timers';

interface Ctx {
  log: string[];
}

const input = (): Ctx => ({ log: [] });

const undoable = (name: string) => ({
  execute: ({ context }: StepArgs<Ctx>) => void context.log.push(name),
  compensate: ({ context }: StepArgs<Ctx>) => void context.log.push(`undo ${name}`),
});

describe('retry', () => {
  it('retries with exponential backoff, the same idempotency key and increasing attempts', async () => {
    const { orchestrator, timers, clock, trail, events } = setup();
    const calls: { at: number; attempt: number; key: string }[] = [];
    const definition = defineSaga<Ctx>('retry')
      .step('flaky', {
        retry: { maxAttempts: 4, initialDelayMs: 100, multiplier: 2, maxDelayMs: 250, jitter: 'none' },
        execute: ({ attempt, idempotencyKey }) => {
          calls.push({ at: clock.now(), attempt, key: idempotencyKey });
          if (attempt < 4) throw new Error(`try ${attempt}`);
        },
      })
      .build();
    const handle = await orchestrator.start(definition, input(), { sagaId: 's' });
    await flush();
    expect(calls.length).toBe(1);
    expect(timers.pending()).toEqual([100]);
    await timers.advance(99);
    expect(calls.length).toBe(1);
    await timers.advance(1);
    expect(calls.length).toBe(2);
    await timers.advance(200);
    expect(calls.length).toBe(3);
    expect(timers.pending()).toEqual([250]); // capped at maxDelayMs
    await timers.advance(250);
    const state = await handle.result;

    expect(state.status).toBe('completed');
    expect(state.attempts).toEqual({ flaky: 4 });
    expect(calls).toEqual([
      { at: 1_000, attempt: 1, key: 's:flaky' },
      { at: 1_100, attempt: 2, key: 's:flaky' },
      { at: 1_300, attempt: 3, key: 's:flaky' },
      { at: 1_550, attempt: 4, key: 's:flaky' },
    ]);
    expect(trail().filter((t) => t.includes('flaky'))).toEqual([
      'saga.step.started:flaky',
      'saga.step.failed:flaky',
      'saga.step.started:flaky',
      'saga.step.failed:flaky',
      'saga.step.started:flaky',
      'saga.step.failed:flaky',
      'saga.step.started:flaky',
      'saga.step.completed:flaky',
    ]);
    expect(events.filter((e) => e.type === 'saga.step.failed').map((e) => [e.attempt, e.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
  });

  it('applies the jitter with the injected random source', async () => {
    const { orchestrator, timers } = setup({ random: () => 0.25 });
    const definition = defineSaga<Ctx>('jitter')
      .step('flaky', {
        retry: { maxAttempts: 2, initialDelayMs: 400, jitter: 'full' },
        execute: ({ attempt }) => {
          if (attempt === 1) throw new Error('once');
        },
      })
      .build();
    const handle = await orchestrator.start(definition, input());
    await flush();
    expect(timers.pending()).toEqual([100]);
    await timers.advance(100);
    expect((await handle.result).status).toBe('completed');
  });

  it('gives up after maxAttempts and compensates', async () => {
    const { orchestrator, timers, events } = setup();
    let calls = 0;
    const definition = defineSaga<Ctx>('retry')
      .step('first', undoable('first'))
      .step('broken', {
        retry: { maxAttempts: 3, initialDelayMs: 10, jitter: 'none' },
        execute: () => {
          calls++;
          throw new Error('always');
        },
      })
      .build();
    const handle = await orchestrator.start(definition, input());
    await timers.advance(10);
    await timers.advance(20);
    const state = await handle.result;
    expect(calls).toBe(3);
    expect(state.status).toBe('compensated');
    expect(state.context.log).toEqual(['first', 'undo first']);
    expect(events.filter((e) => e.type === 'saga.step.failed').map((e) => e.willRetry)).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('does not retry an error the step declares non-retryable', async () => {
    const { orchestrator } = setup();
    let calls = 0;
    class Declined extends Error {}
    const definition = defineSaga<Ctx>('retry')
      .step('pay', {
        retry: { maxAttempts: 5 },
        retryable: (error) => !(error instanceof Declined),
        execute: () => {
          calls++;
          throw new Declined('card declined');
        },
      })
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(calls).toBe(1);
    expect(state.status).toBe('failed');
    expect(state.error?.message).toBe('card declined');
  });
});

describe('timeouts', () => {
  it('aborts a step attempt after timeoutMs with a TimeoutError, retries, then compensates it', async () => {
    const { orchestrator, timers, clock } = setup();
    const reasons: unknown[] = [];
    const starts: number[] = [];
    const definition = defineSaga<Ctx>('timeouts')
      .step('first', undoable('first'))
      .step('slow', {
        timeoutMs: 50,
        retry: { maxAttempts: 2, initialDelayMs: 10, jitter: 'none' },
        execute: ({ signal }) => {
          starts.push(clock.now());
          signal.addEventListener('abort', () => reasons.push(signal.reason));
          return hang();
        },
        compensate: ({ context }) => void context.log.push('undo slow'),
      })
      .build();
    const handle = await orchestrator.start(definition, input());
    await timers.advance(49);
    expect(reasons).toEqual([]);
    await timers.advance(1);
    expect(reasons.length).toBe(1);
    await timers.advance(10 + 50);
    const state = await handle.result;

    expect(starts).toEqual([1_000, 1_060]);
    expect(reasons.length).toBe(2);
    expect(reasons[0]).toBeInstanceOf(TimeoutError);
    expect(state.status).toBe('compensated');
    expect(state.error).toMatchObject({ code: 'POTTER_TIMEOUT' });
    expect(state.error?.message).toMatch(/step slow timed out after 50 ms/);
    // A timed-out step may have had its effect: it is compensated, before the earlier steps.
    expect(state.context.log).toEqual(['first', 'undo slow', 'undo first']);
    expect(timers.pending()).toEqual([]);
  });

  it('times out the whole saga, aborting the running step, and compensates', async () => {
    const { orchestrator, timers } = setup();
    let signal: AbortSignal | undefined;
    const definition = defineSaga<Ctx>('timeouts')
      .step('first', undoable('first'))
      .step('second', {
        execute: async (args) => {
          signal = args.signal;
          await hang();
        },
      })
      .timeout(1_000)
      .build();
    const handle = await orchestrator.start(definition, input());
    expect(handle.state.deadlineAt).toBe(2_000);
    await timers.advance(999);
    expect(handle.status).toBe('running');
    await timers.advance(1);
    const state = await handle.result;
    expect(signal?.reason).toBeInstanceOf(TimeoutError);
    expect(state.status).toBe('compensated');
    expect(state.error?.message).toBe('Saga timeouts timed out after 1000 ms.');
    expect(state.context.log).toEqual(['first', 'undo first']);
  });

  it('cuts a retry delay short when the saga times out', async () => {
    const { orchestrator, timers } = setup();
    const definition = defineSaga<Ctx>('timeouts')
      .step('flaky', {
        retry: { maxAttempts: 5, initialDelayMs: 10_000, jitter: 'none' },
        execute: () => {
          throw new Error('nope');
        },
      })
      .timeout(500)
      .build();
    const handle = await orchestrator.start(definition, input());
    await timers.advance(500);
    const state = await handle.result;
    expect(state.attempts).toEqual({ flaky: 1 });
    expect(state.status).toBe('failed');
    expect(state.error?.code).toBe('POTTER_TIMEOUT');
    expect(timers.pending()).toEqual([]);
  });

  it('disarms the saga timer once the saga completes', async () => {
    const { orchestrator, timers } = setup();
    const definition = defineSaga<Ctx>('timeouts').step('a', undoable('a')).timeout(1_000).build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('completed');
    expect(timers.pending()).toEqual([]);
  });
});

describe('compensation failure', () => {
  function failingCompensation(failures: { remaining: number }) {
    return defineSaga<Ctx>('comp')
      .step('a', undoable('a'))
      .step('b', {
        execute: ({ context }) => void context.log.push('b'),
        compensate: ({ context, attempt }) => {
          context.log.push(`undo b #${attempt}`);
          if (failures.remaining-- > 0) throw new Error('refund service down');
        },
        compensationRetry: { maxAttempts: 2, initialDelayMs: 30, jitter: 'none' },
      })
      .step('c', {
        execute: () => {
          throw new Error('c failed');
        },
      })
      .build();
  }

  it('retries a failing compensation by policy, then leaves the saga compensation_failed', async () => {
    const { orchestrator, timers, trail, events } = setup();
    const handle = await orchestrator.start(failingCompensation({ remaining: 10 }), input());
    await flush();
    expect(timers.pending()).toEqual([30]);
    await timers.advance(30);
    const state = await handle.result;

    expect(state.status).toBe('compensation_failed');
    expect(state.compensationError).toEqual({ name: 'Error', message: 'refund service down' });
    expect(state.compensationAttempts).toEqual({ b: 2 });
    expect(state.currentStep).toBe('b');
    // Compensation stops at the failing step: a is not undone yet.
    expect(state.context.log).toEqual(['a', 'b', 'undo b #1', 'undo b #2']);
    expect(trail().slice(-6)).toEqual([
      'saga.failed',
      'saga.compensation.started:b',
      'saga.compensation.failed:b',
      'saga.compensation.started:b',
      'saga.compensation.failed:b',
      'saga.compensation_failed:b',
    ]);
    expect(events.at(-1)?.error?.message).toBe('refund service down');
  });

  it('lets an operator retry the compensation, which resumes from the failed step', async () => {
    const { orchestrator, timers, trail } = setup();
    const failures = { remaining: 2 };
    const handle = await orchestrator.start(failingCompensation(failures), input());
    await timers.advance(30);
    expect((await handle.result).status).toBe('compensation_failed');

    const state = await orchestrator.retryCompensation<Ctx>(handle.sagaId);
    expect(state.status).toBe('compensated');
    expect(state.compensationAttempts).toEqual({ b: 3, a: 1 });
    expect(state.compensatedSteps).toEqual(['b', 'a']);
    expect(state.compensationError).toBeUndefined();
    expect(state.context.log).toEqual(['a', 'b', 'undo b #1', 'undo b #2', 'undo b #3', 'undo a']);
    expect(trail().at(-1)).toBe('saga.compensated');
    await expect(orchestrator.retryCompensation(handle.sagaId)).rejects.toBeInstanceOf(SagaStateError);
  });

  it('lets an operator mark the saga resolved', async () => {
    const { orchestrator, timers, trail, store } = setup();
    const handle = await orchestrator.start(failingCompensation({ remaining: 10 }), input());
    await timers.advance(30);
    await handle.result;
    const state = await orchestrator.markResolved(handle.sagaId, 'refunded by hand');
    expect(state.status).toBe('resolved');
    expect(state.resolution).toBe('refunded by hand');
    expect(trail().at(-1)).toBe('saga.resolved');
    expect((await store.load(handle.sagaId))?.status).toBe('resolved');
    await expect(orchestrator.markResolved(handle.sagaId)).rejects.toThrow(
      /Cannot resolve saga .*: it is resolved/,
    );
  });
});

describe('interrupted steps', () => {
  it('aborts every branch of a parallel group when the saga times out, and compensates them', async () => {
    const { orchestrator, timers } = setup();
    const definition = defineSaga<Ctx>('timeouts')
      .step('first', undoable('first'))
      .parallel('group', [
        { name: 'done', ...undoable('done') },
        {
          name: 'stuck',
          execute: () => hang(),
          compensate: ({ context }) => void context.log.push('undo stuck'),
        },
      ])
      .timeout(100)
      .build();
    const handle = await orchestrator.start(definition, input());
    await flush();
    expect(handle.state.currentStep).toBe('group');
    await timers.advance(100);
    const state = await handle.result;
    expect(state.status).toBe('compensated');
    expect(state.error?.code).toBe('POTTER_TIMEOUT');
    expect(state.completedSteps).toEqual(['first', 'done', 'stuck']);
    expect(state.context.log).toEqual(['first', 'done', 'undo stuck', 'undo done', 'undo first']);
  });

  it('ignores a step that settles after it was cut short', async () => {
    const { orchestrator, timers } = setup();
    let finish: (() => void) | undefined;
    const definition = defineSaga<Ctx>('late')
      .step('late', {
        timeoutMs: 10,
        execute: ({ context }) =>
          new Promise<void>((resolve) => {
            finish = () => {
              context.log.push('late effect');
              resolve();
            };
          }),
      })
      .build();
    const handle = await orchestrator.start(definition, input());
    await timers.advance(10);
    const state = await handle.result;
    expect(state.status).toBe('failed');
    finish?.();
    await flush();
    expect(handle.status).toBe('failed');
    expect(handle.state.completedSteps).toEqual([]);
  });
});
