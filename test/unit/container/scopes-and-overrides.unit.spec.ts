import {
  Command,
  CommandHandler,
  Inject,
  Injectable,
  MessageContext,
  Module,
  ProviderNotFoundError,
  createToken,
  type PotterApp,
} from 'potter';
import { createTestApp } from 'potter/testing';

@Command()
class Work {}

let created = 0;
@Injectable({ scope: 'message' })
class RequestState {
  readonly serial = ++created;
  constructor(readonly context: MessageContext) {}
}

@Injectable({ scope: 'transient' })
class Scratch {}

@Injectable()
class Shared {}

@Injectable({ scope: 'message' })
@CommandHandler(Work)
class WorkHandler {
  constructor(
    readonly state: RequestState,
    readonly again: RequestState,
    readonly shared: Shared,
    readonly scratch: Scratch,
  ) {}
  execute(
    _: Work,
    context: MessageContext,
  ): { same: boolean; serial: number; ctxOk: boolean; shared: Shared } {
    return {
      same: this.state === this.again,
      serial: this.state.serial,
      ctxOk: this.state.context === context,
      shared: this.shared,
    };
  }
}

@Module({ providers: [RequestState, Scratch, Shared], handlers: [WorkHandler] })
class App {}

describe('scopes', () => {
  let app: PotterApp;
  beforeEach(async () => (app = await createTestApp(App)));
  afterEach(() => app.stop());

  it('gives each message its own per-message instances, which see the message context', async () => {
    const a = (await app.commandBus.execute(new Work())) as {
      same: boolean;
      serial: number;
      ctxOk: boolean;
      shared: Shared;
    };
    const b = (await app.commandBus.execute(new Work())) as {
      same: boolean;
      serial: number;
      ctxOk: boolean;
      shared: Shared;
    };
    expect(a.same).toBe(true);
    expect(b.same).toBe(true);
    expect(b.serial).toBe(a.serial + 1);
    expect(a.ctxOk && b.ctxOk).toBe(true);
    expect(a.shared).toBe(b.shared);
    expect(a.shared).toBe(app.resolve(Shared));
  });

  it('creates transients on every resolve and keeps singletons', () => {
    expect(app.resolve(Scratch)).not.toBe(app.resolve(Scratch));
    expect(app.resolve(Shared)).toBe(app.resolve(Shared));
  });

  it('refuses the message context outside of a message', () => {
    expect(() => app.resolve(MessageContext)).toThrow(ProviderNotFoundError);
    expect(() => app.resolve('unknown-token')).toThrow(ProviderNotFoundError);
  });
});

describe('overrides', () => {
  const GREETING = createToken<string>('GREETING');
  @Injectable()
  class Mailer {
    send(to: string): string {
      return `real:${to}`;
    }
  }
  @Injectable()
  class Greeter {
    constructor(
      readonly mailer: Mailer,
      @Inject(GREETING) readonly greeting: string,
    ) {}
    greet(to: string): string {
      return `${this.greeting} ${this.mailer.send(to)}`;
    }
  }
  @Injectable()
  class Unrelated {}
  @Module({ providers: [Mailer, Greeter, Unrelated, { provide: GREETING, useValue: 'hello' }] })
  class Mod {}

  it('replaces providers at bootstrap', async () => {
    const app = await createTestApp(Mod, {
      overrides: [{ provide: Mailer, useValue: { send: (to: string) => `fake:${to}` } }],
    });
    expect(app.resolve(Greeter).greet('ann')).toBe('hello fake:ann');
    await app.stop();
  });

  it('child containers rebuild only what depends on an override and leave the parent alone', async () => {
    const app = await createTestApp(Mod);
    const parentGreeter = app.resolve(Greeter);
    const child = app.container.createChild([{ provide: GREETING, useValue: 'hi' }]);
    expect(child.resolve(Greeter).greet('bo')).toBe('hi real:bo');
    expect(child.resolve(Greeter)).toBe(child.resolve(Greeter));
    expect(child.resolve(Greeter)).not.toBe(parentGreeter);
    expect(child.resolve(Unrelated)).toBe(app.resolve(Unrelated));
    expect(child.resolve(Mailer)).toBe(app.resolve(Mailer));
    expect(app.resolve(Greeter)).toBe(parentGreeter);
    expect(parentGreeter.greet('bo')).toBe('hello real:bo');
    await app.stop();
  });

  it('supports factory and existing providers', async () => {
    @Module({
      providers: [
        Mailer,
        { provide: 'n', useFactory: (m: Mailer) => m.send('f'), inject: [Mailer] },
        { provide: 'alias', useExisting: Mailer },
      ],
    })
    class FactoryModule {}
    const app = await createTestApp(FactoryModule);
    expect(app.resolve('n')).toBe('real:f');
    expect(app.resolve('alias')).toBe(app.resolve(Mailer));
    await app.stop();
  });
});
