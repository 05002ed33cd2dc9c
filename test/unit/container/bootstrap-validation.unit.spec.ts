import {
  BootstrapError,
  Command,
  CommandHandler,
  Event,
  EventHandler,
  Inject,
  Injectable,
  MessageContext,
  Module,
  QueryHandler,
  createToken,
} from 'potter';
import { createTestApp } from 'potter/testing';

async function problemsOf(root: new () => object): Promise<BootstrapError> {
  try {
    await createTestApp(root);
  } catch (error) {
    expect(error).toBeInstanceOf(BootstrapError);
    return error as BootstrapError;
  }
  throw new Error('bootstrap should have failed');
}

@Command()
class PlaceOrder {}
@Event()
class OrderPlaced {}

describe('bootstrap validation', () => {
  it('fails when two handlers handle one command, naming both classes', async () => {
    @CommandHandler(PlaceOrder)
    class FirstHandler {
      execute(): void {}
    }
    @CommandHandler(PlaceOrder)
    class SecondHandler {
      execute(): void {}
    }
    @Module({ handlers: [FirstHandler, SecondHandler] })
    class App {}
    const error = await problemsOf(App);
    expect(error.code).toBe('POTTER_BOOTSTRAP_FAILED');
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]!.code).toBe('DUPLICATE_HANDLER');
    expect(error.message).toContain('FirstHandler.execute');
    expect(error.message).toContain('SecondHandler.execute');
  });

  it('reports every problem at once', async () => {
    class NotDecorated {}
    class Missing {}
    @Injectable()
    class NeedsMissing {
      constructor(readonly missing: Missing) {}
    }
    @CommandHandler(NotDecorated)
    class HandlesPlainClass {
      execute(): void {}
    }
    @QueryHandler(OrderPlaced)
    class HandlesEventAsQuery {
      execute(): void {}
    }
    @EventHandler(OrderPlaced)
    class NoHandleMethod {}
    class NotAModule {}
    @Module({
      imports: [NotAModule],
      providers: [NeedsMissing],
      handlers: [HandlesPlainClass, HandlesEventAsQuery, NoHandleMethod],
    })
    class App {}
    const error = await problemsOf(App);
    const codes = error.problems.map((p) => p.code).sort();
    expect(codes).toEqual(
      [
        'HANDLER_METHOD_MISSING',
        'MESSAGE_NOT_DECORATED',
        'MESSAGE_NOT_DECORATED',
        'MISSING_DEPENDENCY',
        'MODULE_NOT_DECORATED',
      ].sort(),
    );
    expect(error.message).toContain(
      'NeedsMissing (in App) needs Missing (parameter #0), but no module provides Missing',
    );
    expect(error.message).toContain('HandlesPlainClass.execute handles NotDecorated, which is not a command');
    expect(error.message).toContain('(it is a event)'.replace('a event', 'a event'));
    expect(error.message).toContain('NotAModule (imported by App) is not a module');
    expect(error.details['problems']).toBe(error.problems);
  });

  it('enforces module visibility: imports and exports', async () => {
    @Injectable()
    class Mailer {}
    @Injectable()
    class Hidden {}
    @Module({ providers: [Mailer, Hidden], exports: [Mailer] })
    class MailModule {}
    @CommandHandler(PlaceOrder)
    class PlaceOrderHandler {
      constructor(
        readonly mailer: Mailer,
        readonly hidden: Hidden,
      ) {}
      execute(): void {}
    }
    @Module({ imports: [MailModule], handlers: [PlaceOrderHandler] })
    class App {}
    const error = await problemsOf(App);
    expect(error.problems.map((p) => p.code)).toEqual(['MISSING_DEPENDENCY']);
    expect(error.problems[0]!.message).toContain(
      'Hidden is provided by MailModule, which App does not import, or which does not export it',
    );

    @Module({ handlers: [PlaceOrderHandler] })
    class NoImport {}
    const second = await problemsOf(NoImport);
    expect(second.problems.map((p) => p.details?.['dependency'])).toEqual(['Mailer', 'Hidden']);
  });

  it('accepts re-exported modules and global modules', async () => {
    const URL = createToken<string>('URL');
    @Injectable()
    class Db {
      constructor(@Inject(URL) readonly url: string) {}
    }
    @Module({ providers: [Db, { provide: URL, useValue: 'pg://x' }], exports: [Db] })
    class DbModule {}
    @Module({ imports: [DbModule], exports: [DbModule] })
    class InfraModule {}
    @Injectable()
    class Clock2 {}
    @Module({ providers: [Clock2], exports: [Clock2], global: true })
    class GlobalModule {}
    @CommandHandler(PlaceOrder)
    class PlaceOrderHandler {
      constructor(
        readonly db: Db,
        readonly clock: Clock2,
      ) {}
      execute(): string {
        return this.db.url;
      }
    }
    @Module({ imports: [InfraModule], handlers: [PlaceOrderHandler] })
    class Orders {}
    @Module({ imports: [Orders, GlobalModule] })
    class App {}
    const app = await createTestApp(App);
    await expect(app.commandBus.execute(new PlaceOrder())).resolves.toBe('pg://x');
    await app.stop();
  });

  it('reports unknown exports, cycles and parameters it cannot resolve', async () => {
    interface Port {
      x: number;
    }
    @Injectable()
    class UsesInterface {
      constructor(readonly port: Port) {}
    }
    class NoDecorator {
      constructor(readonly x: number) {}
    }
    @Injectable()
    class A {
      constructor(@Inject('B') readonly b: unknown) {}
    }
    @Injectable()
    class B {
      constructor(readonly a: A) {}
    }
    @Module({
      providers: [UsesInterface, NoDecorator, A, { provide: 'B', useClass: B }],
      exports: ['nothing'],
    })
    class App {}
    const error = await problemsOf(App);
    expect(error.problems.map((p) => p.code).sort()).toEqual(
      ['DEPENDENCY_CYCLE', 'NOT_INJECTABLE', 'UNKNOWN_EXPORT', 'UNRESOLVABLE_PARAMETER'].sort(),
    );
    expect(error.message).toMatch(/cycle: (A → B → A|B → A → B)/);
  });

  it('refuses a singleton that depends on something living per message', async () => {
    @Injectable({ scope: 'message' })
    class RequestState {}
    @Injectable()
    class Service {
      constructor(readonly state: RequestState) {}
    }
    @Injectable()
    class Service2 {
      constructor(readonly ctx: MessageContext) {}
    }
    @Module({ providers: [RequestState, Service, Service2] })
    class App {}
    const error = await problemsOf(App);
    expect(error.problems.map((p) => p.code)).toEqual(['SCOPE_MISMATCH', 'SCOPE_MISMATCH']);
    expect(error.message).toContain('Service is a singleton but depends on RequestState');
    expect(error.message).toContain('Service2 is a singleton but depends on MessageContext');
  });

  it('reports conflicting providers and handler lists with non-handlers', async () => {
    class Plain {}
    @Module({ providers: [{ provide: 'X', useValue: 1 }], handlers: [Plain] })
    class One {}
    @Module({ imports: [One], providers: [{ provide: 'X', useValue: 2 }] })
    class App {}
    const error = await problemsOf(App);
    expect(error.problems.map((p) => p.code).sort()).toEqual(['CONFLICTING_PROVIDER', 'NOT_A_HANDLER']);
  });
});
