import {
  Event,
  EventHandler,
  EventHandlerFailedError,
  Injectable,
  Module,
  createConsoleLogger,
  type EventHandlerFailure,
  type MessageContext,
} from 'potter';
import { createTestApp } from 'potter/testing';

@Event()
class OrderPlaced {
  constructor(readonly n: number) {}
}
@Event()
class OrderShipped {
  constructor(readonly n: number) {}
}

const calls: string[] = [];
let flakyFailures = 0;

@Injectable()
class Handlers {
  @EventHandler(OrderPlaced)
  async audit(e: OrderPlaced): Promise<void> {
    await new Promise((r) => setTimeout(r, 5 - e.n));
    calls.push(`audit:${e.n}`);
  }
  @EventHandler(OrderPlaced, { retry: { maxAttempts: 2, initialDelayMs: 1 } })
  alwaysFails(e: OrderPlaced): void {
    calls.push(`fail:${e.n}`);
    throw new Error(`cannot handle ${e.n}`);
  }
  @EventHandler([OrderPlaced, OrderShipped], { retry: { maxAttempts: 3, initialDelayMs: 1 } })
  flaky(e: OrderPlaced | OrderShipped, context: MessageContext): void {
    if (flakyFailures-- > 0) throw new Error('transient');
    calls.push(`flaky:${context.type}:${e.n}`);
  }
}

@Module({ handlers: [Handlers] })
class App {}

beforeEach(() => {
  calls.length = 0;
  flakyFailures = 0;
});

describe('EventBus', () => {
  it('delivers to every handler; a failing one is retried, reported, and stops nothing', async () => {
    const app = await createTestApp(App);
    const failures: EventHandlerFailure[] = [];
    app.onError((f) => failures.push(f));
    flakyFailures = 2;
    const result = await app.eventBus.publish(new OrderPlaced(1));
    expect(result.delivered).toBe(3);
    expect(calls.filter((c) => c.startsWith('fail'))).toEqual(['fail:1', 'fail:1']);
    expect(calls).toContain('audit:1');
    expect(calls).toContain('flaky:OrderPlaced:1');
    expect(failures).toHaveLength(1);
    const [failure] = failures;
    expect(failure!.handlerName).toBe('Handlers.alwaysFails');
    expect(failure!.attempts).toBe(2);
    expect(failure!.error).toBeInstanceOf(EventHandlerFailedError);
    expect(failure!.error.cause).toEqual(new Error('cannot handle 1'));
    expect(failure!.envelope).toMatchObject({
      type: 'OrderPlaced',
      kind: 'event',
      payload: new OrderPlaced(1),
    });
    expect(result.failures).toEqual(failures);

    // Later events still flow to every handler.
    await app.eventBus.publish(new OrderShipped(2));
    expect(calls).toContain('flaky:OrderShipped:2');
    await app.stop();
  });

  it('logs failures when nobody listens (never swallowed)', async () => {
    const lines: string[] = [];
    const app = await createTestApp(App, {
      logger: createConsoleLogger({ stream: { write: (l: string) => lines.push(l) } }),
    });
    await app.eventBus.publish(new OrderPlaced(1));
    expect(
      lines.some((l) => l.includes('ERROR Handlers.alwaysFails failed on OrderPlaced after 2 attempt(s)')),
    ).toBe(true);
    await app.stop();
  });

  it('keeps per-handler order in publishAll while handlers run concurrently', async () => {
    const app = await createTestApp(App);
    app.onError(() => undefined);
    await app.eventBus.publishAll([new OrderPlaced(1), new OrderPlaced(2), new OrderPlaced(3)]);
    expect(calls.filter((c) => c.startsWith('audit'))).toEqual(['audit:1', 'audit:2', 'audit:3']);
    expect(calls.filter((c) => c.startsWith('flaky'))).toEqual([
      'flaky:OrderPlaced:1',
      'flaky:OrderPlaced:2',
      'flaky:OrderPlaced:3',
    ]);
    await app.stop();
  });

  it('a listener that throws does not break delivery', async () => {
    const app = await createTestApp(App, { logger: createConsoleLogger({ level: 'silent' }) });
    app.onError(() => {
      throw new Error('listener bug');
    });
    await expect(app.eventBus.publish(new OrderPlaced(1))).resolves.toMatchObject({ delivered: 3 });
    await app.stop();
  });

  it('gives all handlers of one event the same event id', async () => {
    const ids: string[] = [];
    @Injectable()
    class Two {
      @EventHandler(OrderShipped)
      a(_: OrderShipped, c: MessageContext): void {
        ids.push(c.id);
      }
      @EventHandler(OrderShipped)
      b(_: OrderShipped, c: MessageContext): void {
        ids.push(c.id);
      }
    }
    @Module({ handlers: [Two] })
    class TwoApp {}
    const app = await createTestApp(TwoApp);
    await app.eventBus.publish(new OrderShipped(1), { correlationId: 'corr-1', headers: { tenant: 't' } });
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    await app.stop();
  });
});
