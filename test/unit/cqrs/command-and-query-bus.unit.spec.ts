import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsPositive, Min, ValidateNested } from 'class-validator';
import {
  Command,
  CommandHandler,
  Event,
  HandlerNotFoundError,
  InvalidMessageError,
  Module,
  Query,
  QueryHandler,
  TimeoutError,
  TypedCommand,
  TypedQuery,
  ValidationError,
  type Middleware,
  type MessageContext,
  type PotterApp,
} from 'potter';
import { createTestApp } from 'potter/testing';

class Line {
  @IsNotEmpty() sku: string;
  @IsInt() @Min(1) quantity: number;
  constructor(sku: string, quantity: number) {
    this.sku = sku;
    this.quantity = quantity;
  }
}

@Command()
class PlaceOrder extends TypedCommand<{ orderId: string; total: number }> {
  @IsNotEmpty() customer: string;
  @IsPositive() amount: number;
  @ValidateNested({ each: true }) @Type(() => Line) lines: Line[];
  constructor(customer: string, amount: number, lines: Line[] = [new Line('a', 1)]) {
    super();
    this.customer = customer;
    this.amount = amount;
    this.lines = lines;
  }
}

@Command()
class Explode {}
@Command()
class Unhandled {}
@Command({ idempotent: true })
class Flaky {
  constructor(readonly failures: number) {}
}
@Command()
class NotIdempotent {}
@Command({ timeoutMs: 20 })
class Sleepy {}
@Query()
class CountOrders extends TypedQuery<number> {}
@Event()
class SomethingHappened {}

let attempts = 0;
let signalAborted: boolean | undefined;
class DomainError extends Error {}

@CommandHandler(PlaceOrder)
class PlaceOrderHandler {
  count = 0;
  execute(cmd: PlaceOrder): { orderId: string; total: number } {
    this.count++;
    return { orderId: `o-${this.count}`, total: cmd.amount };
  }
}
class Handlers {
  @CommandHandler(Explode)
  explode(): never {
    throw new DomainError('boom', { cause: new Error('root cause') });
  }
  @CommandHandler(Flaky, { retry: { initialDelayMs: 1, maxAttempts: 4 } })
  flaky(cmd: Flaky): number {
    attempts++;
    if (attempts <= cmd.failures) throw new Error(`attempt ${attempts} failed`);
    return attempts;
  }
  @CommandHandler(NotIdempotent)
  notIdempotent(): never {
    attempts++;
    throw new Error('once');
  }
  @CommandHandler(Sleepy)
  async sleepy(_: Sleepy, context: MessageContext): Promise<void> {
    await new Promise((r) => setTimeout(r, 80));
    signalAborted = context.signal?.aborted;
  }
}
@QueryHandler(CountOrders)
class CountOrdersHandler {
  constructor(readonly orders: PlaceOrderHandler) {}
  execute(): number {
    return this.orders.count;
  }
}

@Module({ providers: [Handlers], handlers: [PlaceOrderHandler, CountOrdersHandler, Handlers] })
class App {}

describe('CommandBus and QueryBus', () => {
  let app: PotterApp;
  beforeEach(async () => {
    attempts = 0;
    app = await createTestApp(App);
  });
  afterEach(() => app.stop());

  it('returns the handler result with its declared type', async () => {
    const result = await app.commandBus.execute(new PlaceOrder('ann', 10));
    const typed: { orderId: string; total: number } = result;
    expect(typed).toEqual({ orderId: 'o-1', total: 10 });
    const count: number = await app.queryBus.execute(new CountOrders());
    expect(count).toBe(1);
  });

  it('rejects an unknown command with HandlerNotFoundError and a plain object with InvalidMessageError', async () => {
    const error = await app.commandBus.execute(new Unhandled()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerNotFoundError);
    expect((error as HandlerNotFoundError).details).toEqual({ kind: 'command', messageType: 'Unhandled' });
    await expect(app.commandBus.execute({ type: 'PlaceOrder' })).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(app.queryBus.execute(new PlaceOrder('a', 1))).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(app.commandBus.execute(new SomethingHappened())).rejects.toThrow(
      'is not a registered command',
    );
  });

  it('rejects an invalid payload with ValidationError listing each field, nested ones included', async () => {
    const error = await app.commandBus
      .execute(new PlaceOrder('', -5, [new Line('', 0)]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const violations = (error as ValidationError).violations;
    expect(violations.map((v) => v.path)).toEqual(['customer', 'amount', 'lines.0.sku', 'lines.0.quantity']);
    expect(violations[1]!.constraints).toEqual({ isPositive: 'amount must be a positive number' });
    expect(violations[3]!.constraints).toHaveProperty('min');
    expect((error as ValidationError).details['messageType']).toBe('PlaceOrder');
    expect(app.resolve(PlaceOrderHandler).count).toBe(0);
  });

  it('gives the caller the handler error itself, with its cause', async () => {
    const error = await app.commandBus.execute(new Explode()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as Error).message).toBe('boom');
    expect((error as Error).cause).toEqual(new Error('root cause'));
  });

  it('retries idempotent commands with backoff, and never retries the others', async () => {
    await expect(app.commandBus.execute(new Flaky(2))).resolves.toBe(3);
    attempts = 0;
    await expect(app.commandBus.execute(new Flaky(10))).rejects.toThrow('attempt 4 failed');
    expect(attempts).toBe(4);
    attempts = 0;
    await expect(app.commandBus.execute(new NotIdempotent())).rejects.toThrow('once');
    expect(attempts).toBe(1);
  });

  it('times out slow handlers and aborts their signal', async () => {
    const error = await app.commandBus.execute(new Sleepy()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).details).toMatchObject({ timeoutMs: 20 });
    await new Promise((r) => setTimeout(r, 100));
    expect(signalAborted).toBe(true);
  });
});

describe('middleware', () => {
  it('runs as an onion, first outermost, and can short-circuit', async () => {
    const trace: string[] = [];
    const mw =
      (name: string): Middleware =>
      async (context, next, handler) => {
        trace.push(`${name}>${context.type}@${handler.handlerName}`);
        const result = await next();
        trace.push(`<${name}`);
        return result;
      };
    const app = await createTestApp(App, { commandBus: { middleware: [mw('a'), mw('b')] } });
    await app.commandBus.execute(new PlaceOrder('x', 1));
    expect(trace).toEqual([
      'a>PlaceOrder@PlaceOrderHandler.execute',
      'b>PlaceOrder@PlaceOrderHandler.execute',
      '<b',
      '<a',
    ]);
    app.commandBus.use(async () => 'short-circuited');
    await expect(app.commandBus.execute(new PlaceOrder('x', 1))).resolves.toBe('short-circuited');
    expect(app.resolve(PlaceOrderHandler).count).toBe(1);
    await app.stop();
  });

  it('can be switched off: no validation when disabled', async () => {
    const app = await createTestApp(App, { commandBus: { validation: false } });
    await expect(app.commandBus.execute(new PlaceOrder('', -1))).resolves.toEqual({
      orderId: 'o-1',
      total: -1,
    });
    await app.stop();
  });

  it('skips middleware factories that do not apply to a handler', async () => {
    const seen: string[] = [];
    const app = await createTestApp(App, {
      commandBus: {
        middleware: [
          {
            forHandler: (h) =>
              h.messageType === 'PlaceOrder'
                ? async (_c, next) => {
                    seen.push(h.messageType);
                    return next();
                  }
                : undefined,
          },
        ],
      },
    });
    await app.commandBus.execute(new PlaceOrder('x', 1));
    await app.commandBus.execute(new Flaky(0));
    expect(seen).toEqual(['PlaceOrder']);
    await app.stop();
  });
});
