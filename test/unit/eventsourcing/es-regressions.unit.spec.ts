import {
  Aggregate,
  AggregateRepositories,
  AggregateRepository,
  AggregateRoot,
  Apply,
  ConcurrencyError,
  Event,
  EventSourcingModule,
  Frequency,
  MemoryEventStore,
  MemorySnapshotStore,
  Module,
  TimeBased,
  type Snapshot,
} from 'potter';
import { ManualClock, createTestApp } from 'potter/testing';

@Event('meter.read')
class Read {
  constructor(readonly kwh: number) {}
}
@Aggregate('Meter')
class Meter extends AggregateRoot {
  total = 0;
  read(kwh: number): void {
    this.apply(new Read(kwh));
  }
  @Apply(Read)
  protected on(e: Read): void {
    this.total += e.kwh;
  }
}

/** A snapshot store whose writes after the first take a while. */
class SlowSnapshots extends MemorySnapshotStore {
  readonly written: number[] = [];
  override async save(snapshot: Snapshot): Promise<void> {
    this.written.push(snapshot.version);
    if (this.written.length > 1) await new Promise((r) => setTimeout(r, 30));
    await super.save(snapshot);
  }
}

describe('event sourcing regressions', () => {
  it('a load that finds an older snapshot while a newer one is being written takes no extra snapshot', async () => {
    const snapshots = new SlowSnapshots();
    const repository = new AggregateRepository(Meter, {
      eventStore: new MemoryEventStore(),
      snapshotStore: snapshots,
      snapshotStrategy: Frequency(10),
    });
    for (let round = 0; round < 10; round++) {
      const meter = await repository.loadOrCreate('m');
      for (let i = 0; i < 5; i++) meter.read(1);
      await repository.save(meter);
    }
    await repository.whenIdle();
    expect(snapshots.written).toEqual([10, 20, 30, 40, 50]);
  });

  it('EventSourcingModule repositories follow the app clock (TimeBased with a manual clock)', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const snapshots = new MemorySnapshotStore();
    @Module({
      imports: [
        EventSourcingModule.forRoot({
          aggregates: [Meter],
          snapshotStore: snapshots,
          snapshotStrategy: TimeBased(60_000),
        }),
      ],
    })
    class App {}
    const app = await createTestApp(App, { clock });
    const repository = app.resolve(AggregateRepositories).for(Meter);
    const meter = repository.create('m');
    meter.read(1);
    await repository.save(meter); // first snapshot (none before)
    meter.read(1);
    clock.advance(59_999);
    await repository.save(meter); // too soon
    await repository.whenIdle();
    expect((await snapshots.load('Meter-m'))?.version).toBe(1);
    expect((await snapshots.load('Meter-m'))?.createdAt).toEqual(new Date('2026-01-01T00:00:00Z'));
    meter.read(1);
    clock.advance(1);
    await repository.save(meter);
    await repository.whenIdle();
    expect((await snapshots.load('Meter-m'))?.version).toBe(3);
    await app.stop();
  });

  it('closes the event store on stop only when asked to', async () => {
    const store = new MemoryEventStore();
    let closed = 0;
    store.close = async () => void closed++;
    @Module({ imports: [EventSourcingModule.forRoot({ aggregates: [Meter], eventStore: store })] })
    class Keep {}
    const first = await createTestApp(Keep);
    await first.stop();
    expect(closed).toBe(0);
    @Module({
      imports: [EventSourcingModule.forRoot({ aggregates: [Meter], eventStore: store, closeOnStop: true })],
    })
    class Close {}
    const second = await createTestApp(Close);
    await second.stop();
    expect(closed).toBe(1);
  });

  it('ConcurrencyError carries the stream and versions as typed fields', async () => {
    const store = new MemoryEventStore();
    await store.appendToStream('s', [{ type: 't', payload: {} }]);
    const error = (await store
      .appendToStream('s', [{ type: 't', payload: {} }], { expectedVersion: 0 })
      .catch((e: unknown) => e)) as ConcurrencyError;
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect([error.streamId, error.expectedVersion, error.actualVersion]).toEqual(['s', 0, 1]);
  });
});
