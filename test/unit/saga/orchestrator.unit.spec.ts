import {
  SagaCancelledError,
  SagaConflictError,
  SagaNotFoundError,
  SagaOrchestrator,
  defineSaga,
  type StepArgs,
} from '../../../src/saga';
import { hang, setup } from './fixtures';
import { flush } from './manual-timers';

interface OrderCtx {
  orderId: string;
  log: string[];
  reservation?: string;
  express?: boolean;
}

const input = (): OrderCtx => ({ orderId: 'o-1', log: [] });

/** A step that logs `name` (and `undo name` on compensation) into the context. */
function logged(name: string, extra: { fail?: boolean; compensate?: boolean } = {}) {
  return {
    execute: ({ context }: StepArgs<OrderCtx>) => {
      context.log.push(name);
      if (extra.fail === true) throw new Error(`${name} failed`);
    },
    ...(extra.compensate === false
      ? {}
      : {
          compensate: ({ context }: StepArgs<OrderCtx>) => {
            context.log.push(`undo ${name}`);
          },
        }),
  };
}

describe('SagaOrchestrator: sequential steps', () => {
  it('runs the steps in order with a typed, mutable context, and completes', async () => {
    const { orchestrator, trail, events } = setup();
    const seen: Omit<StepArgs<OrderCtx>, 'context' | 'signal' | 'dispatch' | 'waitFor'>[] = [];
    const definition = defineSaga<OrderCtx>('order')
      .step('reserve', {
        execute: ({ context, signal, dispatch, waitFor, ...rest }) => {
          expect([typeof dispatch, typeof waitFor]).toEqual(['function', 'function']);
          seen.push(rest);
          expect(signal.aborted).toBe(false);
          context.reservation = `r-${context.orderId}`;
        },
      })
      .step('charge', {
        execute: async ({ context, signal: _signal, dispatch: _dispatch, waitFor: _waitFor, ...rest }) => {
          seen.push(rest);
          await Promise.resolve();
          context.log.push(`charged for ${context.reservation}`);
        },
      })
      .build();

    const handle = await orchestrator.start(definition, input(), { correlationId: 'corr-1' });
    expect(handle.sagaId).toBe('saga-1');
    const state = await handle.result;

    expect(state.status).toBe('completed');
    expect(handle.status).toBe('completed');
    expect(state.context).toEqual({ orderId: 'o-1', log: ['charged for r-o-1'], reservation: 'r-o-1' });
    expect(state.completedSteps).toEqual(['reserve', 'charge']);
    expect(state.attempts).toEqual({ reserve: 1, charge: 1 });
    expect(state.currentStep).toBeUndefined();
    expect(seen).toEqual([
      {
        sagaId: 'saga-1',
        sagaName: 'order',
        correlationId: 'corr-1',
        step: 'reserve',
        attempt: 1,
        idempotencyKey: 'saga-1:reserve',
      },
      {
        sagaId: 'saga-1',
        sagaName: 'order',
        correlationId: 'corr-1',
        step: 'charge',
        attempt: 1,
        idempotencyKey: 'saga-1:charge',
      },
    ]);
    expect(trail()).toEqual([
      'saga.started',
      'saga.step.started:reserve',
      'saga.step.completed:reserve',
      'saga.step.started:charge',
      'saga.step.completed:charge',
      'saga.completed',
    ]);
    expect(events.every((e) => e.sagaId === 'saga-1' && e.correlationId === 'corr-1')).toBe(true);
    expect(events.map((e) => e.status)).toEqual([
      'running',
      'running',
      'running',
      'running',
      'running',
      'completed',
    ]);
  });

  it('saves the state before every attempt and at the end, with increasing versions', async () => {
    const { orchestrator, store, trail } = setup();
    const definition = defineSaga<OrderCtx>('order').step('a', logged('a')).step('b', logged('b')).build();
    const handle = await orchestrator.start(definition, input());
    await handle.result;
    // Created running; a step's completion is saved with the next step's start (or the end), before
    // anything else runs: 2 steps, 4 writes.
    expect(
      store.saves.map((s) => [s.version, s.status, s.currentStep ?? '-', s.completedSteps.join(',')]),
    ).toEqual([
      [1, 'running', '-', ''],
      [2, 'running', 'a', ''],
      [3, 'running', 'b', 'a'],
      [4, 'completed', '-', 'a,b'],
    ]);
    expect(store.saves[2]!.context).toEqual({ orderId: 'o-1', log: ['a'] });
    // Every transition still has its event, in order.
    expect(trail()).toEqual([
      'saga.started',
      'saga.step.started:a',
      'saga.step.completed:a',
      'saga.step.started:b',
      'saga.step.completed:b',
      'saga.completed',
    ]);
    expect(await store.load(handle.sagaId)).toEqual(handle.state);
    expect(await store.list()).toEqual([]);
    expect((await store.list(['completed'])).map((s) => s.sagaId)).toEqual([handle.sagaId]);
  });

  it('compensates the completed steps in reverse order when a step fails', async () => {
    const { orchestrator, trail } = setup();
    const definition = defineSaga<OrderCtx>('order')
      .step('reserve', logged('reserve'))
      .step('notify', logged('notify', { compensate: false }))
      .step('charge', logged('charge'))
      .step('ship', logged('ship', { fail: true }))
      .step('never', logged('never'))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;

    expect(state.status).toBe('compensated');
    expect(state.error).toEqual({ name: 'Error', message: 'ship failed' });
    expect(state.context.log).toEqual(['reserve', 'notify', 'charge', 'ship', 'undo charge', 'undo reserve']);
    expect(state.completedSteps).toEqual(['reserve', 'notify', 'charge']);
    expect(state.compensatedSteps).toEqual(['charge', 'reserve']);
    expect(trail()).toEqual([
      'saga.started',
      'saga.step.started:reserve',
      'saga.step.completed:reserve',
      'saga.step.started:notify',
      'saga.step.completed:notify',
      'saga.step.started:charge',
      'saga.step.completed:charge',
      'saga.step.started:ship',
      'saga.step.failed:ship',
      'saga.failed',
      'saga.compensation.started:charge',
      'saga.compensation.completed:charge',
      'saga.compensation.started:reserve',
      'saga.compensation.completed:reserve',
      'saga.compensated',
    ]);
  });

  it('gives compensations their own stable idempotency key', async () => {
    const { orchestrator } = setup();
    const keys: string[] = [];
    const definition = defineSaga<OrderCtx>('order')
      .step('reserve', {
        execute: ({ idempotencyKey }) => void keys.push(idempotencyKey),
        compensate: ({ idempotencyKey, attempt }) => void keys.push(`${idempotencyKey}#${attempt}`),
      })
      .step('charge', logged('charge', { fail: true }))
      .build();
    await (
      await orchestrator.start(definition, input(), { sagaId: 's-42' })
    ).result;
    expect(keys).toEqual(['s-42:reserve', 's-42:reserve:compensate#1']);
  });

  it('ends failed (nothing compensated) when nothing completed needs undoing', async () => {
    const { orchestrator, trail } = setup();
    const definition = defineSaga<OrderCtx>('order')
      .step('log', logged('log', { compensate: false }))
      .step('boom', logged('boom', { fail: true }))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('failed');
    expect(trail().slice(-3)).toEqual(['saga.step.started:boom', 'saga.step.failed:boom', 'saga.failed']);
  });
});

describe('SagaOrchestrator: conditional steps', () => {
  it('skips a step whose predicate is false over the current context, and never compensates it', async () => {
    const { orchestrator, trail } = setup();
    const definition = defineSaga<OrderCtx>('order')
      .step('classify', {
        execute: ({ context }) => {
          context.express = context.orderId === 'express';
        },
      })
      .when((ctx) => ctx.express === true, 'expressShip', logged('expressShip'))
      .when((ctx) => ctx.express !== true, 'normalShip', logged('normalShip'))
      .step('fail', logged('fail', { fail: true }))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.skippedSteps).toEqual(['expressShip']);
    expect(state.context.log).toEqual(['normalShip', 'fail', 'undo normalShip']);
    expect(trail()).toContain('saga.step.skipped:expressShip');
    expect(trail()).not.toContain('saga.step.started:expressShip');
  });
});

describe('SagaOrchestrator: parallel groups', () => {
  it('runs the branches concurrently and continues when all succeed', async () => {
    const { orchestrator } = setup();
    const running: string[] = [];
    let maxConcurrent = 0;
    const branch = (name: string) => ({
      name,
      execute: async ({ context }: StepArgs<OrderCtx>) => {
        running.push(name);
        maxConcurrent = Math.max(maxConcurrent, running.length);
        await flush(1);
        running.splice(running.indexOf(name), 1);
        context.log.push(name);
      },
    });
    const definition = defineSaga<OrderCtx>('order')
      .parallel('checks', [branch('fraud'), branch('credit'), branch('stock')])
      .step('after', logged('after'))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('completed');
    expect(maxConcurrent).toBe(3);
    expect([...state.context.log].sort()).toEqual(['after', 'credit', 'fraud', 'stock']);
    expect(state.context.log.at(-1)).toBe('after');
  });

  it('compensates the branches that succeeded (and aborts the ones still running) when one fails', async () => {
    const { orchestrator, trail } = setup();
    let slowSignal: AbortSignal | undefined;
    const definition = defineSaga<OrderCtx>('order')
      .step('reserve', logged('reserve'))
      .parallel('checks', [
        { name: 'ok', ...logged('ok') },
        {
          name: 'slow',
          execute: ({ signal }) => {
            slowSignal = signal;
            return hang();
          },
        },
        {
          name: 'bad',
          execute: async () => {
            await flush(1);
            throw new Error('bad check');
          },
        },
      ])
      .step('never', logged('never'))
      .build();
    const state = await (await orchestrator.start(definition, input())).result;

    expect(state.status).toBe('compensated');
    expect(state.error?.message).toBe('bad check');
    expect(slowSignal?.aborted).toBe(true);
    expect(state.context.log).toEqual(['reserve', 'ok', 'undo ok', 'undo reserve']);
    expect(trail()).toContain('saga.step.failed:slow');
    expect(trail().filter((t) => t.startsWith('saga.compensation.completed'))).toEqual([
      'saga.compensation.completed:ok',
      'saga.compensation.completed:reserve',
    ]);
  });
});

describe('SagaOrchestrator: starting', () => {
  it('rejects a duplicate saga id and a second unsettled saga with the same business key', async () => {
    const { orchestrator } = setup();
    const definition = defineSaga<OrderCtx>('order')
      .step('wait', { execute: () => hang() })
      .build();
    await orchestrator.start(definition, input(), { sagaId: 'a', businessKey: 'order-1' });
    await expect(orchestrator.start(definition, input(), { sagaId: 'a' })).rejects.toBeInstanceOf(
      SagaConflictError,
    );
    await expect(orchestrator.start(definition, input(), { businessKey: 'order-1' })).rejects.toThrow(
      /Saga a \(order\) is open for business key order-1/,
    );
    await orchestrator.cancel('a');
    await (
      await orchestrator.get('a')
    ).result;
    const again = await orchestrator.start(definition, input(), { businessKey: 'order-1' });
    expect(again.status).toBe('running');
  });

  it('throws SagaNotFoundError for an unknown saga', async () => {
    const { orchestrator } = setup();
    await expect(orchestrator.cancel('nope')).rejects.toThrow(SagaNotFoundError);
    await expect(orchestrator.get('nope')).rejects.toThrow(SagaNotFoundError);
  });

  it('keeps running when the publisher throws, and reports it to the logger', async () => {
    const warnings: string[] = [];
    const orchestrator = new SagaOrchestrator({
      publish: () => {
        throw new Error('bus down');
      },
      logger: { debug() {}, info() {}, warn: (message) => void warnings.push(message), error() {} },
    });
    const definition = defineSaga<OrderCtx>('order').step('a', logged('a')).build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('completed');
    expect(warnings.length).toBe(4);
  });
});

describe('SagaOrchestrator: cancellation', () => {
  it('aborts the running step, compensates, and ends cancelled', async () => {
    const { orchestrator, trail } = setup();
    let reason: unknown;
    const definition = defineSaga<OrderCtx>('order')
      .step('reserve', logged('reserve'))
      .step('wait', {
        execute: ({ signal }) => {
          signal.addEventListener('abort', () => (reason = signal.reason));
          return hang();
        },
        compensate: ({ context }) => void context.log.push('undo wait'),
      })
      .step('never', logged('never'))
      .build();
    const handle = await orchestrator.start(definition, input());
    await flush();
    expect(handle.state.currentStep).toBe('wait');

    expect(await orchestrator.cancel(handle.sagaId, 'customer changed their mind')).toBe(true);
    expect(await orchestrator.cancel(handle.sagaId)).toBe(false);
    const state = await handle.result;

    expect(reason).toBeInstanceOf(SagaCancelledError);
    expect(state.status).toBe('cancelled');
    expect(state.error?.message).toMatch(/cancelled: customer changed their mind/);
    // The interrupted step's effect is unknown, so it is compensated too, before the earlier ones.
    expect(state.context.log).toEqual(['reserve', 'undo wait', 'undo reserve']);
    expect(trail().slice(-6)).toEqual([
      'saga.step.failed:wait',
      'saga.compensation.started:wait',
      'saga.compensation.completed:wait',
      'saga.compensation.started:reserve',
      'saga.compensation.completed:reserve',
      'saga.cancelled',
    ]);
    expect(trail()).not.toContain('saga.failed');
    expect(await orchestrator.cancel(handle.sagaId)).toBe(false);
  });

  it('ends cancelled without compensation when nothing needs undoing', async () => {
    const { orchestrator, trail } = setup();
    const definition = defineSaga<OrderCtx>('order')
      .step('wait', { execute: () => hang() })
      .build();
    const handle = await orchestrator.start(definition, input());
    await orchestrator.cancel(handle.sagaId);
    expect((await handle.result).status).toBe('cancelled');
    expect(trail().at(-1)).toBe('saga.cancelled');
  });

  it('refuses to cancel a completed saga', async () => {
    const { orchestrator } = setup();
    const definition = defineSaga<OrderCtx>('order').step('a', logged('a')).build();
    const handle = await orchestrator.start(definition, input());
    await handle.result;
    expect(await orchestrator.cancel(handle.sagaId)).toBe(false);
    expect(handle.status).toBe('completed');
  });
});

describe('SagaOrchestrator: defaults', () => {
  it('works with the real timers and clock', async () => {
    const orchestrator = new SagaOrchestrator();
    const definition = defineSaga<OrderCtx>('order')
      .step('flaky', {
        retry: { maxAttempts: 3, initialDelayMs: 1, jitter: 'none' },
        execute: ({ attempt }) => {
          if (attempt < 2) throw new Error('flaky');
        },
        timeoutMs: 1_000,
      })
      .timeout(10_000)
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('completed');
    expect(state.attempts).toEqual({ flaky: 2 });
    expect(state.sagaId).toMatch(/^[0-9a-f-]{36}$/);
    expect(state.deadlineAt).toBe(state.startedAt + 10_000);
  });
});
