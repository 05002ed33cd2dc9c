import {
  Aggregate,
  AggregateRoot,
  Apply,
  Command,
  CommandHandler,
  ConfigurationError,
  Event,
  EventHandler,
  EventSourcingModule,
  Injectable,
  MemoryEventStore,
  MemoryProjectionStore,
  MemoryReadModelStore,
  Module,
  Projection,
  ProjectionEngine,
  ProjectionNotFoundError,
  ProjectionsModule,
  READ_MODELS,
  TargetAggregateId,
  applyOnce,
  wasApplied,
  type Instrumentation,
  type ProjectionContext,
  type ReadModelStore,
} from 'potter';
import { createTestApp } from 'potter/testing';

@Event('engine.Tallied')
class Tallied {
  constructor(
    readonly counter: string,
    readonly by: number,
  ) {}
}

@Projection('engine-tallies', { batchSize: 10, retry: { maxAttempts: 1 } })
class Tallies {
  failOn: number | undefined;
  @EventHandler(Tallied)
  async onTallied(event: Tallied, ctx: ProjectionContext): Promise<void> {
    if (event.by === this.failOn) throw new Error(`cannot tally ${event.by}`);
    await ctx
      .readModel<{ n: number }>('tallies')
      .update(event.counter, (d) => ({ n: (d?.n ?? 0) + event.by }));
  }
}

const tally = (store: MemoryEventStore, counter: string, ...by: number[]) =>
  store.appendToStream(
    `Counter-${counter}`,
    by.map((n) => ({ type: 'engine.Tallied', payload: { counter, by: n } })),
  );

const engineOn = (
  eventStore: MemoryEventStore,
  extra: Partial<ConstructorParameters<typeof ProjectionEngine>[0]> = {},
) => new ProjectionEngine({ eventStore, pollIntervalMs: 10, leaseTtlMs: 300, reportIntervalMs: 0, ...extra });

describe('ProjectionEngine', () => {
  it('starts from a point in time: events recorded earlier are never handled, not even in a rebuild', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const eventStore = new MemoryEventStore({ now: () => now });
    await tally(eventStore, 'a', 1, 2);
    now = new Date('2026-01-02T00:00:00Z');
    await tally(eventStore, 'a', 10);
    @Projection('engine-since', { startFrom: new Date('2026-01-01T12:00:00Z') })
    class Since {
      @EventHandler(Tallied)
      async on(event: Tallied, ctx: ProjectionContext): Promise<void> {
        await ctx
          .readModel<{ n: number }>('since')
          .update(event.counter, (d) => ({ n: (d?.n ?? 0) + event.by }));
      }
    }
    const engine = engineOn(eventStore).register(new Since());
    engine.start();
    try {
      await engine.waitUntilCaughtUp('engine-since');
      expect(await engine.readModels.collection('since').get('a')).toEqual({ n: 10 });
      await engine.reset('engine-since');
      await engine.waitUntilCaughtUp('engine-since');
      expect(await engine.readModels.collection('since').get('a')).toEqual({ n: 10 });
    } finally {
      await engine.stop();
    }
  });

  it('at-least-once delivery keeps what was handled before a failing event and stops in front of it', async () => {
    const eventStore = new MemoryEventStore();
    await tally(eventStore, 'a', 1, 2, 3, 4);
    const tallies = new Tallies();
    tallies.failOn = 3;
    const engine = engineOn(eventStore).register(tallies);
    engine.start();
    try {
      await expect(engine.waitUntilCaughtUp('engine-tallies')).rejects.toThrow(ConfigurationError);
      const status = await engine.status('engine-tallies');
      expect(status).toMatchObject({
        status: 'faulted',
        state: 'faulted',
        lag: 2,
        delivery: 'at-least-once',
      });
      expect(status.position).toBe((await eventStore.readStream('Counter-a'))[1]!.position);
      expect(await engine.readModels.collection('tallies').get('a')).toEqual({ n: 3 });
      tallies.failOn = undefined;
      await engine.resume('engine-tallies');
      await engine.waitUntilCaughtUp('engine-tallies');
      expect(await engine.readModels.collection('tallies').get('a')).toEqual({ n: 10 });
    } finally {
      await engine.stop();
    }
  });

  it('reports events and faults through the instrumentation port', async () => {
    const eventStore = new MemoryEventStore();
    await tally(eventStore, 'a', 1, 2, 3);
    const counts: [string, number, unknown][] = [];
    const gauges: [string, number][] = [];
    const instrumentation: Instrumentation = {
      count: (name, value, attributes) => counts.push([name, value, attributes]),
      gauge: (name, value) => gauges.push([name, value]),
      record: () => undefined,
    };
    const engine = engineOn(eventStore, { instrumentation, reportIntervalMs: 20 }).register(new Tallies());
    engine.start();
    try {
      await engine.waitUntilCaughtUp('engine-tallies');
      await new Promise((r) => setTimeout(r, 80));
      expect(counts.filter(([n]) => n === 'potter.projection.events').reduce((s, [, v]) => s + v, 0)).toBe(3);
      expect(counts[0]![2]).toEqual({ projection: 'engine-tallies' });
      expect(gauges).toContainEqual(['potter.projection.lag', 0]);
      const status = await engine.status('engine-tallies');
      expect(status.timings.batches).toBeGreaterThan(0);
      expect(status.eventsHandled).toBe(3);
    } finally {
      await engine.stop();
    }
  });

  it('rejects bad definitions with clear errors', () => {
    const engine = engineOn(new MemoryEventStore());
    class NotAProjection {}
    expect(() => engine.register(new NotAProjection())).toThrow(/not a projection.*@Projection/);
    @Projection('engine-empty')
    class Empty {}
    expect(() => engine.register(new Empty())).toThrow(/has no @EventHandler/);
    engine.register(new Tallies());
    expect(() => engine.register(new Tallies())).toThrow(/Two projections are named "engine-tallies"/);
    expect(() => Projection('bad name!')).toThrow(ConfigurationError);
    @Projection('engine-big', { batchSize: 0 })
    class Big {
      @EventHandler(Tallied) on(): void {}
    }
    expect(() => engine.register(new Big())).toThrow(/batchSize/);
    @Projection('engine-tx', { delivery: 'transactional' })
    class Tx {
      @EventHandler(Tallied) on(): void {}
    }
    expect(() => engine.register(new Tx())).toThrow(
      /transactional delivery, which needs a SQL projection store/,
    );
    expect(() => engine.parked('nope')).rejects.toBeInstanceOf(ProjectionNotFoundError);
    expect(() => new ProjectionEngine({ eventStore: new MemoryEventStore(), leaseTtlMs: 5 })).toThrow(
      /leaseTtlMs/,
    );
  });

  it('a stale owner cannot record progress once another instance took its lease over', async () => {
    let now = 1_000_000;
    const store = new MemoryProjectionStore({ now: () => now });
    const a = await store.acquire('p', 'a', 1000, { position: '' });
    now += 1001;
    const b = await store.acquire('p', 'b', 1000, { position: '' });
    expect(b!.lease.token).toBe(a!.lease.token + 1);
    await expect(store.commit(a!.lease, { position: '5' })).rejects.toMatchObject({
      code: 'POTTER_PROJECTION_FENCED',
    });
    expect(await store.renew(a!.lease, 1000)).toBe(false);
    await store.commit(b!.lease, { position: '6' });
    expect((await store.get('p'))!.position).toBe('6');
  });
});

describe('applyOnce', () => {
  it('applies each stream version once and records it in the document', () => {
    const e1 = { streamId: 'S-1', streamVersion: 1 };
    const e2 = { streamId: 'S-1', streamVersion: 2 };
    const add = (d: { n?: number } | undefined) => ({ n: (d?.n ?? 0) + 1 });
    let doc = applyOnce(undefined, e1, add);
    doc = applyOnce(doc, e1, add);
    doc = applyOnce(doc, e2, add);
    doc = applyOnce(doc, e1, add);
    expect(doc).toEqual({ n: 2, $applied: { 'S-1': 2 } });
    expect(wasApplied(doc, e2)).toBe(true);
    expect(wasApplied(doc, { streamId: 'S-2', streamVersion: 1 })).toBe(false);
    expect(applyOnce(doc, { streamId: 'S-2', streamVersion: 1 }, () => undefined)).toBeUndefined();
  });
});

describe('ProjectionsModule', () => {
  @Command('engine.AddTally')
  class AddTally {
    @TargetAggregateId() readonly counter: string;
    constructor(counter: string) {
      this.counter = counter;
    }
  }

  @Aggregate('Counter')
  class Counter extends AggregateRoot {
    n = 0;
    @CommandHandler(AddTally)
    add(command: AddTally): void {
      this.apply(new Tallied(command.counter, 1));
    }
    @Apply(Tallied)
    onTallied(event: Tallied): void {
      this.n += event.by;
    }
  }

  @Injectable()
  class Greeting {
    readonly word = 'tally';
  }

  @Module({ providers: [Greeting], exports: [Greeting] })
  class GreetingModule {}

  @Projection('module-tallies')
  class ModuleTallies {
    static calls = 0;
    constructor(readonly greeting: Greeting) {}
    @EventHandler(Tallied)
    async on(event: Tallied, ctx: ProjectionContext): Promise<void> {
      ModuleTallies.calls++;
      await ctx.readModel<{ n: number; word: string }>('module_tallies').update(event.counter, (d) => ({
        n: (d?.n ?? 0) + event.by,
        word: this.greeting.word,
      }));
    }
  }

  it('wires projections into the app: they start and stop with it and may inject services', async () => {
    const eventStore = new MemoryEventStore();
    const readModels = new MemoryReadModelStore();
    @Module({
      imports: [
        EventSourcingModule.forRoot({ aggregates: [Counter], eventStore }),
        ProjectionsModule.forRoot({
          projections: [ModuleTallies],
          imports: [GreetingModule],
          readModels,
          pollIntervalMs: 10,
        }),
      ],
    })
    class App {}
    const app = await createTestApp(App);
    const errors: unknown[] = [];
    app.onError((error) => errors.push(error));
    await app.start();
    try {
      await app.commandBus.execute(new AddTally('x'));
      await app.commandBus.execute(new AddTally('x'));
      const engine = app.resolve(ProjectionEngine);
      await engine.waitUntilCaughtUp('module-tallies');
      const models = app.resolve<ReadModelStore>(READ_MODELS);
      expect(await models.collection('module_tallies').get('x')).toEqual({ n: 2, word: 'tally' });
      // Regression: the event bus must not call projection handlers too (published events).
      expect(ModuleTallies.calls).toBe(2);
      expect(errors).toEqual([]);
      expect((await engine.status('module-tallies')).state).toBe('live');
    } finally {
      await app.stop();
    }
    expect((await app.resolve(ProjectionEngine).status('module-tallies')).state).toBe('stopped');
  });

  it('refuses a projection listed as a module handler, saying where it belongs', async () => {
    @Module({ handlers: [ModuleTallies], providers: [Greeting] })
    class Wrong {}
    await expect(createTestApp(Wrong)).rejects.toThrow(
      /ModuleTallies is a @Projection.*ProjectionsModule\.forRoot/,
    );
  });
});
