import { IsPositive } from 'class-validator';
import {
  Command,
  CommandHandler,
  ConfigurationError,
  Event,
  EventHandler,
  Injectable,
  LifecycleHookError,
  Module,
  TypedCommand,
  ValidationError,
  type EventHandlerFailure,
  type HandlesCommand,
  type HandlesEvent,
  type MessageContext,
} from 'potter';
import { createTestApp } from 'potter/testing';

@Event()
class Paid {
  @IsPositive() amount: number;
  constructor(amount: number) {
    this.amount = amount;
  }
}

const handled: number[] = [];
let attempts = 0;
@EventHandler(Paid, { retry: { maxAttempts: 5, initialDelayMs: 1 } })
class PaidHandler implements HandlesEvent<Paid> {
  handle(event: Paid): void {
    attempts++;
    if (event.amount === 13)
      throw new ValidationError('Paid', [{ path: 'amount', constraints: { unlucky: 'no 13' } }]);
    handled.push(event.amount);
  }
}
@Module({ handlers: [PaidHandler] })
class PaidModule {}

beforeEach(() => {
  handled.length = 0;
  attempts = 0;
});

describe('regressions', () => {
  it('validates events before delivery when asked, and rejects publish with ValidationError', async () => {
    const app = await createTestApp(PaidModule, { eventBus: { validation: true } });
    const failures: EventHandlerFailure[] = [];
    app.onError((f) => failures.push(f));
    await expect(app.eventBus.publish(new Paid(-1))).rejects.toBeInstanceOf(ValidationError);
    await expect(app.eventBus.publishAll([new Paid(1), new Paid(-1)])).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(handled).toEqual([]);
    expect(failures).toEqual([]);
    await app.eventBus.publish(new Paid(2));
    expect(handled).toEqual([2]);
    await app.stop();
  });

  it('does not retry event-handler errors that retrying cannot fix', async () => {
    const app = await createTestApp(PaidModule);
    const failures: EventHandlerFailure[] = [];
    app.onError((f) => failures.push(f));
    await app.eventBus.publish(new Paid(13));
    expect(attempts).toBe(1);
    expect(failures[0]!.attempts).toBe(1);
    await app.stop();
  });

  it('undoes the providers already initialised when an onInit fails', async () => {
    const log: string[] = [];
    @Injectable()
    class Pool {
      onInit(): void {
        log.push('pool.init');
      }
      onStop(): void {
        log.push('pool.stop');
      }
    }
    @Injectable()
    class Cache {
      constructor(readonly pool: Pool) {}
      onInit(): void {
        throw new Error('cache unreachable');
      }
      onStop(): void {
        log.push('cache.stop');
      }
    }
    @Module({ providers: [Cache, Pool] })
    class App {}
    await expect(createTestApp(App)).rejects.toBeInstanceOf(LifecycleHookError);
    expect(log).toEqual(['pool.init', 'pool.stop']);
  });

  it('rejects an invalid child-container override with ConfigurationError', async () => {
    const app = await createTestApp(PaidModule);
    expect(() => app.container.createChild([{ provide: 'x' } as never])).toThrow(ConfigurationError);
    await app.stop();
  });

  it('stop() waits for a handler that timed out until it really finishes', async () => {
    let finished = false;
    @Command({ timeoutMs: 10 })
    class Slow {}
    @CommandHandler(Slow)
    class SlowHandler {
      async execute(): Promise<void> {
        await new Promise((r) => setTimeout(r, 80));
        finished = true;
      }
    }
    @Module({ handlers: [SlowHandler] })
    class App {}
    const app = await createTestApp(App);
    await expect(app.commandBus.execute(new Slow())).rejects.toMatchObject({ code: 'POTTER_TIMEOUT' });
    expect(finished).toBe(false);
    await app.stop();
    expect(finished).toBe(true);
  });

  it('types class handlers against the declared result (compile-time check)', async () => {
    @Command()
    class Open extends TypedCommand<string> {}
    @CommandHandler(Open)
    class OpenHandler implements HandlesCommand<Open> {
      execute(_: Open, context: MessageContext<Open>): string {
        return context.type;
      }
    }
    class WrongHandler implements HandlesCommand<Open> {
      // @ts-expect-error — a handler of TypedCommand<string> cannot return a number.
      execute(): number {
        return 1;
      }
    }
    expect(WrongHandler).toBeDefined();
    @Module({ handlers: [OpenHandler] })
    class App {}
    const app = await createTestApp(App);
    const id: string = await app.commandBus.execute(new Open());
    expect(id).toBe('Open');
    await app.stop();
  });
});
