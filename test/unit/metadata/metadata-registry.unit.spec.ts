import {
  Command,
  CommandHandler,
  ConfigurationError,
  Event,
  EventHandler,
  Inject,
  Injectable,
  MetadataRegistry,
  Module,
  Query,
  QueryHandler,
  createMetadataKey,
  createToken,
  metadataRegistry,
} from 'potter';

@Command('bank.open-account')
class OpenAccount {}
@Command({ idempotent: true, timeoutMs: 50 })
class Ping {}
@Query()
class GetBalance {}
@Event({ name: 'bank.account-opened', schemaVersion: 3 })
class AccountOpened {}
@Event()
class AccountClosed {}

const URL = createToken<string>('URL');

@CommandHandler(OpenAccount, { emits: [AccountOpened] })
class OpenAccountHandler {
  constructor(@Inject(URL) readonly url: string) {}
  execute(): void {}
}

@Injectable({ scope: 'message' })
class Projector {
  @EventHandler(AccountOpened)
  a(): void {}
  @EventHandler([AccountOpened, AccountClosed], { retry: { maxAttempts: 5 } })
  b(): void {}
  @QueryHandler(GetBalance)
  balance(): number {
    return 0;
  }
}

class DerivedProjector extends Projector {
  @EventHandler(AccountClosed)
  c(): void {}
}

@Module({
  providers: [{ provide: URL, useValue: 'x' }],
  handlers: [OpenAccountHandler],
  exports: [URL],
  global: true,
})
class BankModule {}

describe('metadata registry', () => {
  it('records message names, kinds, schema versions and options', () => {
    expect(metadataRegistry.getMessage(OpenAccount)).toEqual({
      kind: 'command',
      typeName: 'bank.open-account',
      schemaVersion: 1,
      idempotent: false,
      timeoutMs: undefined,
    });
    expect(metadataRegistry.getMessage(Ping)).toMatchObject({
      typeName: 'Ping',
      idempotent: true,
      timeoutMs: 50,
    });
    expect(metadataRegistry.getMessage(GetBalance)?.kind).toBe('query');
    expect(metadataRegistry.getMessage(AccountOpened)).toMatchObject({
      kind: 'event',
      typeName: 'bank.account-opened',
      schemaVersion: 3,
    });
    expect(metadataRegistry.getMessage(class Plain {})).toBeUndefined();
  });

  it('rejects an invalid schema version at decoration time', () => {
    expect(() => Event({ schemaVersion: 0 })(class Bad {})).toThrow(ConfigurationError);
  });

  it('records class-level and method-level handlers, several per event', () => {
    expect(metadataRegistry.getHandlers(OpenAccountHandler)).toEqual([
      {
        kind: 'command',
        message: OpenAccount,
        method: 'execute',
        classLevel: true,
        options: { emits: [AccountOpened] },
      },
    ]);
    const handlers = metadataRegistry.getHandlers(Projector);
    expect(handlers.map((h) => [h.kind, h.message.name, h.method])).toEqual([
      ['event', 'AccountOpened', 'a'],
      ['event', 'AccountOpened', 'b'],
      ['event', 'AccountClosed', 'b'],
      ['query', 'GetBalance', 'balance'],
    ]);
    expect(handlers[1]!.options.retry).toEqual({ maxAttempts: 5 });
  });

  it('includes inherited handlers and scope', () => {
    expect(metadataRegistry.getHandlers(DerivedProjector).map((h) => h.method)).toEqual([
      'a',
      'b',
      'b',
      'balance',
      'c',
    ]);
    expect(metadataRegistry.getInjectable(DerivedProjector)).toEqual({ scope: 'message' });
  });

  it('records modules and injections', () => {
    expect(metadataRegistry.getModule(BankModule)).toMatchObject({
      global: true,
      imports: [],
      handlers: [OpenAccountHandler],
    });
    expect(metadataRegistry.getInjections(OpenAccountHandler).get(0)?.token).toBe(URL);
  });

  it('is extensible with typed keys for later decorators', () => {
    interface AggregateRecord {
      name: string;
    }
    const AGGREGATE = createMetadataKey<AggregateRecord>('test-aggregate');
    const registry = new MetadataRegistry();
    class Order {}
    registry.add(AGGREGATE, Order, { name: 'Order' });
    registry.add(AGGREGATE, Order, { name: 'Order2' });
    expect(registry.get(AGGREGATE, Order)).toEqual({ name: 'Order2' });
    expect(registry.list(AGGREGATE, Order)).toHaveLength(2);
    expect(registry.targets(AGGREGATE)).toEqual([Order]);
    registry.set(AGGREGATE, Order, { name: 'Only' });
    expect(registry.list(AGGREGATE, Order)).toEqual([{ name: 'Only' }]);
  });
});
