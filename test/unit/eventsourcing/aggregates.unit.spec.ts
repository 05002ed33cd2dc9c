import {
  AggregateNotFoundError,
  AggregateRepository,
  CommandHandler,
  ConcurrencyError,
  ConfigurationError,
  EVENT_STORE,
  EventBus,
  EventHandler,
  EventSourcingModule,
  Injectable,
  InjectRepository,
  MemoryEventStore,
  Module,
  Command,
  Aggregate,
  AggregateRoot,
  type EventStore,
  retryOnConflict,
  type MessageContext,
} from 'potter';
import { AggregateFixture, createTestApp } from 'potter/testing';
import {
  AddLine,
  AddLineIdempotent,
  LineAdded,
  Order,
  OrderCreated,
  OrderError,
  OrderPlaced,
  OrderShipped,
  ShipOrder,
} from '../../fixtures/orders/order';

describe('AggregateFixture', () => {
  it('given / when command / expectEvents and expectState', () => {
    new AggregateFixture(Order)
      .withId('o-1')
      .given(new OrderCreated('o-1', 'ann'), new LineAdded('a', 2, 5))
      .when(new AddLine('o-1', 'b', 1, 10))
      .expectEvents(new LineAdded('b', 1, 10))
      .expectState((order) => expect(order.total).toBe(20));
  });

  it('when with a function, and expectError', () => {
    new AggregateFixture(Order).when((o) => o.place()).expectError(OrderError, 'empty order');
    new AggregateFixture(Order)
      .given(new OrderCreated('x', 'ann'), new LineAdded('a', 1, 3))
      .when((o) => o.place())
      .expectEvents(new OrderPlaced(3));
    new AggregateFixture(Order)
      .given(new OrderCreated('x', 'ann'))
      .when(new ShipOrder('x', 'ups'))
      .expectError(OrderError, 'open');
  });

  it('reports differences clearly', () => {
    const result = new AggregateFixture(Order)
      .given(new OrderCreated('x', 'ann'))
      .when(new AddLine('x', 'a', 1, 1));
    expect(() => result.expectEvents(new LineAdded('a', 2, 1))).toThrow(
      /Expected events \[LineAdded .*"quantity":2/,
    );
    expect(() => result.expectError(OrderError)).toThrow('Expected OrderError, but nothing was thrown');
    expect(() => result.expectNoEvents()).toThrow();
  });
});

describe('AggregateRepository', () => {
  let store: EventStore;
  let repository: AggregateRepository<Order>;
  beforeEach(() => {
    store = new MemoryEventStore();
    repository = new AggregateRepository(Order, { eventStore: store });
  });

  it('saves new events and loads the aggregate back by folding them', async () => {
    const order = repository.create('o-1');
    order.create('ann');
    order.addLine(new AddLine('o-1', 'a', 2, 5));
    await repository.save(order);
    expect(order.version).toBe(2);
    expect(order.uncommittedEvents).toEqual([]);
    const loaded = await repository.load('o-1');
    expect(loaded).toBeInstanceOf(Order);
    expect(loaded.version).toBe(2);
    expect(loaded.customer).toBe('ann');
    expect(loaded.total).toBe(10);
    const stored = await store.readStream('Order-o-1');
    expect(stored.map((e) => [e.type, e.streamVersion])).toEqual([
      ['order.created', 1],
      ['order.line-added', 2],
    ]);
    expect(stored[1]!.payload).toEqual({ sku: 'a', quantity: 2, price: 5 });
  });

  it('raises AggregateNotFoundError for an unknown id; find gives undefined', async () => {
    await expect(repository.load('nope')).rejects.toBeInstanceOf(AggregateNotFoundError);
    await expect(repository.find('nope')).resolves.toBeUndefined();
  });

  it('detects a concurrent save with both versions in the error', async () => {
    const order = repository.create('o-2');
    order.create('ann');
    await repository.save(order);
    const a = await repository.load('o-2');
    const b = await repository.load('o-2');
    a.addLine(new AddLine('o-2', 'x', 1, 1));
    b.addLine(new AddLine('o-2', 'y', 1, 1));
    await repository.save(a);
    const error = await repository.save(b).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect((error as ConcurrencyError).details).toMatchObject({
      streamId: 'Order-o-2',
      expectedVersion: 1,
      actualVersion: 2,
    });
  });

  it('retryOnConflict reruns load → change → save until it wins', async () => {
    const order = repository.create('o-3');
    order.create('ann');
    await repository.save(order);
    const attempts: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        retryOnConflict(
          async (attempt) => {
            attempts.push(attempt);
            const o = await repository.load('o-3');
            o.addLine(new AddLine('o-3', `sku-${i}`, 1, 1));
            await new Promise((r) => setImmediate(r));
            await repository.save(o);
          },
          { maxAttempts: 20, initialDelayMs: 1 },
        ),
      ),
    );
    const loaded = await repository.load('o-3');
    expect(loaded.lines).toHaveLength(8);
    expect(loaded.version).toBe(9);
    expect(Math.max(...attempts)).toBeGreaterThan(1);
    await expect(retryOnConflict(() => Promise.reject(new Error('other')))).rejects.toThrow('other');
  });
});

describe('EventSourcingModule', () => {
  const published: string[] = [];
  @Injectable()
  class Projector {
    @EventHandler([OrderCreated, LineAdded, OrderShipped])
    on(event: object, context: MessageContext): void {
      published.push(`${context.type}:${context.causationId === undefined ? 'no-cause' : 'caused'}`);
    }
  }
  @Command()
  class CreateOrder {
    constructor(
      readonly orderId: string,
      readonly customer: string,
    ) {}
  }
  @CommandHandler(CreateOrder)
  class CreateOrderHandler {
    constructor(@InjectRepository(Order) private readonly orders: AggregateRepository<Order>) {}
    async execute(command: CreateOrder): Promise<void> {
      const order = this.orders.create(command.orderId);
      order.create(command.customer);
      await this.orders.save(order);
    }
  }

  beforeEach(() => (published.length = 0));

  it('wires classic handlers with the repository and aggregate command handlers, publishing after commit', async () => {
    const store = new MemoryEventStore();
    @Module({
      imports: [EventSourcingModule.forRoot({ aggregates: [Order], eventStore: store })],
      handlers: [CreateOrderHandler, Projector],
    })
    class App {}
    const app = await createTestApp(App);
    await app.commandBus.execute(new CreateOrder('o-9', 'bea'));
    const count: number = await app.commandBus.execute(new AddLine('o-9', 'a', 1, 4));
    expect(count).toBe(1);
    await expect(app.commandBus.execute(new ShipOrder('o-9', 'ups'))).rejects.toBeInstanceOf(OrderError);
    expect(published).toEqual(['order.created:caused', 'order.line-added:caused']);
    expect(app.resolve(EVENT_STORE)).toBe(store);
    const events = await store.readStream('Order-o-9');
    expect(events.map((e) => e.type)).toEqual(['order.created', 'order.line-added']);
    expect(events[1]!.metadata.correlationId).not.toBe(events[0]!.metadata.correlationId);
    const topology = JSON.stringify(app.topology());
    expect(topology).toContain('handler:Order.addLine');
    expect(app.resolve(EventBus)).toBe(app.eventBus);
    await app.stop();
  });

  it('retries idempotent aggregate commands on conflict, so concurrent ones all land', async () => {
    @Module({ imports: [EventSourcingModule.forRoot({ aggregates: [Order] })] })
    class App {}
    const app = await createTestApp(App);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        app.commandBus.execute(new AddLineIdempotent('o-1', `s${i}`, 1, 1)),
      ),
    );
    const store = app.resolve(EVENT_STORE);
    const events = await store.readStream('Order-o-1');
    expect(events.filter((e) => e.type === 'order.line-added')).toHaveLength(10);
    expect(events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    await app.stop();
  });

  it('non-idempotent aggregate commands surface the conflict', async () => {
    @Module({ imports: [EventSourcingModule.forRoot({ aggregates: [Order] })] })
    class App {}
    const app = await createTestApp(App, { commandBus: { retry: false } });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => app.commandBus.execute(new AddLine('o-2', `s${i}`, 1, 1))),
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    await app.stop();
  });

  it('refuses aggregate command handlers whose command names no target id', () => {
    @Command()
    class Poke {}
    @Aggregate()
    class Thing extends AggregateRoot {
      @CommandHandler(Poke)
      poke(): void {}
    }
    expect(() => EventSourcingModule.forRoot({ aggregates: [Thing] })).toThrow(ConfigurationError);
    expect(() => EventSourcingModule.forRoot({ aggregates: [Thing] })).toThrow(
      'Poke, which has no @TargetAggregateId()',
    );
  });
});
