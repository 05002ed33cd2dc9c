import {
  Command,
  CommandHandler,
  ConfigurationError,
  Event,
  EventBus,
  Injectable,
  Module,
  TimeoutError,
  type MessageContext,
} from 'potter';
import { ManualClock, createTestApp } from 'potter/testing';
import type { PotterApp } from '../../../src/container/potter-app';
import {
  MemorySagaStore,
  SagaCancelledError,
  SagaOrchestrator,
  SagaStateError,
  defineSaga,
  type SagaEvent,
} from '../../../src/saga';
import { ManualTimers, flush } from './manual-timers';

interface Ctx {
  orderId: string;
  reservation?: string;
  got?: string[];
}

@Command()
class ReserveStock {
  constructor(
    readonly orderId: string,
    readonly announce = false,
  ) {}
}

@Command()
class ChargeCard {
  constructor(readonly amount: number) {}
}

@Event()
class StockReserved {
  constructor(readonly orderId: string) {}
}

/** Not an @Event class. */
class PlainObject {}

interface Seen {
  orderId: string;
  correlationId: string;
  causationId: string | undefined;
  headers: Record<string, string>;
}

const seen: Seen[] = [];

@Injectable()
class StockHandlers {
  constructor(private readonly events: EventBus) {}

  @CommandHandler(ReserveStock)
  async reserve(command: ReserveStock, context: MessageContext): Promise<string> {
    seen.push({
      orderId: command.orderId,
      correlationId: context.correlationId,
      causationId: context.causationId,
      headers: { ...context.metadata.headers },
    });
    // Published from the handler: the event carries the command's (the saga's) correlation id.
    if (command.announce) await this.events.publish(new StockReserved(command.orderId));
    return `r-${command.orderId}`;
  }

  @CommandHandler(ChargeCard)
  charge(command: ChargeCard): void {
    throw new Error(`card declined for ${command.amount}`);
  }
}

@Module({ handlers: [StockHandlers] })
class StockModule {}

let app: PotterApp;

beforeEach(async () => {
  seen.length = 0;
  app = await createTestApp(StockModule);
});

afterEach(async () => {
  await app.stop();
});

function setup(buses: { commandBus?: boolean; eventBus?: boolean } = { commandBus: true, eventBus: true }) {
  const clock = new ManualClock(1_000);
  const timers = new ManualTimers(clock);
  const events: SagaEvent[] = [];
  const orchestrator = new SagaOrchestrator({
    store: new MemorySagaStore({ clock }),
    clock,
    timers,
    random: () => 0.5,
    newId: () => 'saga-1',
    leaseMs: 3_600_000,
    publish: (event) => void events.push(event),
    ...(buses.commandBus === true ? { commandBus: app.commandBus } : {}),
    ...(buses.eventBus === true ? { eventBus: app.eventBus } : {}),
  });
  /** Handlers subscribed to StockReserved now. */
  const waiters = (): number =>
    app.eventBus.handlers().filter((entry) => entry.messageClass === StockReserved).length;
  return { clock, timers, events, orchestrator, waiters };
}

const input = (): Ctx => ({ orderId: 'o-1' });

describe('StepArgs.dispatch', () => {
  it('sends the command with the saga correlation id, the saga id as causation id, and the saga and idempotency-key headers', async () => {
    const { orchestrator, timers } = setup();
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        retry: { maxAttempts: 2, initialDelayMs: 10, jitter: 'none' },
        execute: async ({ context, dispatch, attempt }) => {
          context.reservation = await dispatch<string>(new ReserveStock(context.orderId));
          if (attempt === 1) throw new Error('lost the reply');
        },
      })
      .build();
    const handle = await orchestrator.start(definition, input(), { correlationId: 'corr-1' });
    await timers.advance(10);
    const state = await handle.result;

    expect(state.status).toBe('completed');
    expect(state.context.reservation).toBe('r-o-1');
    const expected: Seen = {
      orderId: 'o-1',
      correlationId: 'corr-1',
      causationId: 'saga-1',
      headers: { 'potter-saga-id': 'saga-1', 'potter-idempotency-key': 'saga-1:reserve' },
    };
    // The retry sends it again with the same key, so the handler can apply it once.
    expect(seen).toEqual([expected, expected]);
  });

  it('fails the step with a ConfigurationError when the orchestrator has no command bus', async () => {
    const { orchestrator } = setup({ eventBus: true });
    let error: unknown;
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        execute: ({ dispatch }) =>
          dispatch(new ReserveStock('o-1')).catch((e: unknown) => {
            error = e;
            throw e;
          }),
      })
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(state.status).toBe('failed');
    expect(state.error).toMatchObject({ name: 'ConfigurationError', message: /has no command bus/ });
    expect(seen).toEqual([]);
  });
});

describe('StepArgs.waitFor', () => {
  it('resolves with the event the command handler publishes (correlated), subscribing before the dispatch', async () => {
    const { orchestrator, waiters } = setup();
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        execute: async ({ context, dispatch, waitFor }) => {
          const reserved = waitFor(StockReserved);
          await dispatch(new ReserveStock(context.orderId, true));
          context.got = [(await reserved).orderId];
        },
      })
      .build();
    const state = await (await orchestrator.start(definition, input())).result;
    expect(state.status).toBe('completed');
    expect(state.context.got).toEqual(['o-1']);
    expect(waiters()).toBe(0);
  });

  it('ignores events of other correlation ids (or that do not match), and unsubscribes once it resolves', async () => {
    const { orchestrator, waiters } = setup();
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        execute: async ({ context, waitFor }) => {
          context.got = [(await waitFor(StockReserved)).orderId];
        },
      })
      .step('confirm', {
        execute: async ({ context, waitFor }) => {
          const event = await waitFor(StockReserved, { match: (e) => e.orderId === 'wanted' });
          context.got!.push(event.orderId);
        },
      })
      .build();
    const handle = await orchestrator.start(definition, input(), { correlationId: 'corr-1' });
    await flush();
    expect(waiters()).toBe(1);

    await app.eventBus.publish(new StockReserved('someone else'), { correlationId: 'corr-2' });
    await flush();
    expect(handle.state.currentStep).toBe('reserve');
    await app.eventBus.publish(new StockReserved('mine'), { correlationId: 'corr-1' });
    await flush();
    expect(handle.state.completedSteps).toEqual(['reserve']);
    expect(waiters()).toBe(1); // confirm's

    await app.eventBus.publish(new StockReserved('unwanted'), { correlationId: 'corr-2' });
    await app.eventBus.publish(new StockReserved('wanted'), { correlationId: 'corr-2' });
    const state = await handle.result;
    expect(state.status).toBe('completed');
    expect(state.context.got).toEqual(['mine', 'wanted']);
    expect(waiters()).toBe(0);
  });

  it('rejects with a TimeoutError after timeoutMs, which the step retries by its policy', async () => {
    const { orchestrator, timers, events, waiters } = setup();
    const errors: unknown[] = [];
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        retry: { maxAttempts: 2, initialDelayMs: 100, jitter: 'none' },
        execute: async ({ context, waitFor }) => {
          const event = await waitFor(StockReserved, { timeoutMs: 1_000 }).catch((e: unknown) => {
            errors.push(e);
            throw e;
          });
          context.got = [event.orderId];
        },
      })
      .build();
    const handle = await orchestrator.start(definition, input(), { correlationId: 'corr-1' });
    await timers.advance(999);
    expect(errors).toEqual([]);
    await timers.advance(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TimeoutError);
    expect(waiters()).toBe(0); // unsubscribed while waiting for the retry
    expect(events.filter((e) => e.type === 'saga.step.failed')).toMatchObject([
      { attempt: 1, willRetry: true, error: { name: 'TimeoutError' } },
    ]);

    await timers.advance(100);
    expect(waiters()).toBe(1);
    await app.eventBus.publish(new StockReserved('late but fine'), { correlationId: 'corr-1' });
    const state = await handle.result;
    expect(state.status).toBe('completed');
    expect(state.attempts).toEqual({ reserve: 2 });
    expect(state.context.got).toEqual(['late but fine']);
    expect(waiters()).toBe(0);
    expect(timers.pending()).toEqual([]); // the second wait's timeout is disarmed
  });

  it('rejects when the saga is cancelled, and unsubscribes', async () => {
    const { orchestrator, waiters } = setup();
    let error: unknown;
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        execute: ({ waitFor }) =>
          waitFor(StockReserved).catch((e: unknown) => {
            error = e;
            throw e;
          }),
      })
      .build();
    const handle = await orchestrator.start(definition, input());
    await flush();
    expect(waiters()).toBe(1);
    expect(await orchestrator.cancel(handle.sagaId, 'no longer needed')).toBe(true);
    const state = await handle.result;
    expect(state.status).toBe('cancelled');
    expect(error).toBeInstanceOf(SagaCancelledError);
    expect(waiters()).toBe(0);
    // A late event finds nobody waiting.
    expect((await app.eventBus.publish(new StockReserved('late'))).delivered).toBe(0);
  });

  it('fails the step with a ConfigurationError without an event bus, or for a class that is not an @Event', async () => {
    const errors: unknown[] = [];
    const capture = (e: unknown): never => {
      errors.push(e);
      throw e;
    };
    const withoutBus = setup({ commandBus: true });
    const first = defineSaga<Ctx>('order')
      .step('reserve', { execute: ({ waitFor }) => waitFor(StockReserved).catch(capture) })
      .build();
    const state = await (await withoutBus.orchestrator.start(first, input())).result;
    expect(state.status).toBe('failed');
    expect(state.error?.message).toMatch(/has no event bus/);

    const withBus = setup();
    const second = defineSaga<Ctx>('order')
      .step('reserve', { execute: ({ waitFor }) => waitFor(PlainObject).catch(capture) })
      .build();
    expect((await (await withBus.orchestrator.start(second, input())).result).status).toBe('failed');
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => e instanceof ConfigurationError)).toBe(true);
    expect((errors[1] as Error).message).toMatch(/PlainObject is not an @Event class/);
    expect(withBus.waiters()).toBe(0);
  });

  it('stops waiting when the attempt ends without awaiting the wait (the dispatch after it threw): no unhandled rejection', async () => {
    const { orchestrator, timers, waiters } = setup();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let abandoned: Promise<unknown> | undefined;
    try {
      const definition = defineSaga<Ctx>('order')
        .step('charge', {
          execute: async ({ dispatch, waitFor }) => {
            const charged = waitFor(StockReserved, { timeoutMs: 1_000 });
            abandoned = charged;
            await dispatch(new ChargeCard(42)); // throws: `charged` is never awaited here
            await charged;
          },
        })
        .build();
      const state = await (await orchestrator.start(definition, input())).result;
      expect(state.status).toBe('failed');
      expect(state.error?.message).toBe('card declined for 42');
      expect(waiters()).toBe(0); // released with its attempt, not at its timeout
      await expect(abandoned).rejects.toBeInstanceOf(SagaStateError);
      await timers.advance(1_000);
      await flush();
      expect(unhandled).toEqual([]);
      expect(timers.pending()).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('rejects the wait (the step sees it) when its match function throws', async () => {
    const { orchestrator, waiters } = setup();
    const definition = defineSaga<Ctx>('order')
      .step('reserve', {
        execute: ({ waitFor }) =>
          waitFor(StockReserved, {
            match: (event) => {
              if (event.orderId === 'bad') throw new Error('match broke');
              return false;
            },
          }),
      })
      .build();
    const handle = await orchestrator.start(definition, input());
    await flush();
    const published = await app.eventBus.publish(new StockReserved('bad'));
    expect(published.failures).toEqual([]);
    const state = await handle.result;
    expect(state.status).toBe('failed');
    expect(state.error?.message).toBe('match broke');
    expect(waiters()).toBe(0);
  });
});
