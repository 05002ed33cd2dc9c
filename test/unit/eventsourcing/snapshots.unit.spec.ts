import fc from 'fast-check';
import {
  Aggregate,
  AggregateRepository,
  AggregateRoot,
  Apply,
  ConfigurationError,
  CustomSnapshotStrategy,
  Event,
  Frequency,
  Hybrid,
  MemoryEventStore,
  MemorySnapshotStore,
  TimeBased,
  type Snapshot,
  type SnapshotStore,
} from 'potter';

@Event('counter.incremented')
class Incremented {
  constructor(readonly by: number) {}
}

let folds = 0;
@Aggregate('Counter', { snapshotVersion: 2 })
class Counter extends AggregateRoot {
  value = 0;
  history: number[] = [];
  add(by: number): void {
    this.apply(new Incremented(by));
  }
  @Apply(Incremented)
  protected on(e: Incremented): void {
    folds++;
    this.value += e.by;
    this.history.push(e.by);
  }
}

const input = (version: number, lastSnapshotVersion = 0, lastSnapshotAt?: Date, now = new Date(0)) => ({
  aggregateType: 'Counter',
  version,
  lastSnapshotVersion,
  lastSnapshotAt,
  now,
});

describe('snapshot strategies', () => {
  it('Frequency(n) snapshots whenever a save crosses a multiple of n, even in one jump (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 30 }),
        (n, batches) => {
          const strategy = Frequency(n);
          let version = 0;
          let last = 0;
          for (const size of batches) {
            const before = version;
            version += size;
            const crossed = Math.floor(version / n) > Math.floor(before / n);
            const decided = strategy.shouldSnapshot(input(version, last));
            // Never skips a crossing since the last snapshot, never snapshots without one.
            expect(decided).toBe(Math.floor(version / n) > Math.floor(last / n));
            if (crossed) expect(decided).toBe(true);
            if (decided) last = version;
          }
        },
      ),
    );
    expect(() => Frequency(0)).toThrow(ConfigurationError);
  });

  it('TimeBased snapshots when the interval passed, Hybrid combines, custom decides', () => {
    const t = TimeBased(1000);
    expect(t.shouldSnapshot(input(1))).toBe(true);
    expect(t.shouldSnapshot(input(5, 3, new Date(0), new Date(999)))).toBe(false);
    expect(t.shouldSnapshot(input(5, 3, new Date(0), new Date(1000)))).toBe(true);
    expect(t.shouldSnapshot(input(3, 3, new Date(0), new Date(5000)))).toBe(false);
    const any = Hybrid([Frequency(10), TimeBased(1000)]);
    const all = Hybrid([Frequency(10), TimeBased(1000)], 'all');
    expect(any.shouldSnapshot(input(10, 5, new Date(0), new Date(1)))).toBe(true);
    expect(all.shouldSnapshot(input(10, 5, new Date(0), new Date(1)))).toBe(false);
    expect(all.shouldSnapshot(input(10, 5, new Date(0), new Date(2000)))).toBe(true);
    expect(CustomSnapshotStrategy(({ version }) => version === 7).shouldSnapshot(input(7))).toBe(true);
    expect(() => Hybrid([])).toThrow(ConfigurationError);
    expect(() => TimeBased(0)).toThrow(ConfigurationError);
  });
});

describe('snapshots in the repository', () => {
  it('loads snapshot + tail, folding only the tail', async () => {
    const eventStore = new MemoryEventStore();
    const snapshotStore = new MemorySnapshotStore();
    const repository = new AggregateRepository(Counter, {
      eventStore,
      snapshotStore,
      snapshotStrategy: Frequency(10),
    });
    const counter = repository.create('c');
    for (let i = 1; i <= 25; i++) {
      counter.add(i);
      await repository.save(counter);
    }
    await repository.whenIdle();
    const snapshot = await snapshotStore.load('Counter-c');
    expect(snapshot).toMatchObject({ version: 20, schemaVersion: 2, aggregateType: 'Counter' });
    folds = 0;
    const loaded = await repository.load('c');
    expect(folds).toBe(5);
    expect(loaded.value).toBe((25 * 26) / 2);
    expect(loaded.history).toHaveLength(25);
    expect(loaded.version).toBe(25);
  });

  it('ignores a snapshot of another schema version, rebuilds from events and writes a fresh one', async () => {
    const eventStore = new MemoryEventStore();
    const snapshotStore = new MemorySnapshotStore();
    const repository = new AggregateRepository(Counter, { eventStore, snapshotStore });
    const counter = repository.create('c');
    counter.add(1);
    counter.add(2);
    await repository.save(counter);
    await snapshotStore.save({
      streamId: 'Counter-c',
      aggregateType: 'Counter',
      version: 2,
      schemaVersion: 1,
      state: { value: 999 },
      createdAt: new Date(),
    });
    folds = 0;
    const loaded = await repository.load('c');
    expect(loaded.value).toBe(3);
    expect(folds).toBe(2);
    await repository.whenIdle();
    expect(await snapshotStore.load('Counter-c')).toMatchObject({
      schemaVersion: 2,
      version: 2,
      state: { value: 3 },
    });
  });

  it('never fails or blocks a save when the snapshot store fails', async () => {
    const eventStore = new MemoryEventStore();
    const warnings: string[] = [];
    let release: () => void = () => undefined;
    const failing: SnapshotStore = {
      load: async () => undefined,
      save: (_s: Snapshot) =>
        new Promise<void>((_, reject) => {
          release = () => reject(new Error('disk full'));
        }),
      delete: async () => undefined,
    };
    const repository = new AggregateRepository(Counter, {
      eventStore,
      snapshotStore: failing,
      snapshotStrategy: Frequency(1),
      logger: { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} },
    });
    const counter = repository.create('c');
    counter.add(1);
    await repository.save(counter); // resolves although the snapshot write hangs
    expect(counter.version).toBe(1);
    release();
    await repository.whenIdle();
    expect(warnings[0]).toContain('Snapshot of Counter-c at v1 failed: Error: disk full');
    expect((await eventStore.readStream('Counter-c')).length).toBe(1);
  });
});
