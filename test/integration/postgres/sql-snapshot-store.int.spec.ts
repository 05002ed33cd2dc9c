import { Aggregate, AggregateRepository, AggregateRoot, Apply, Event, Frequency } from 'potter';
import { createPostgresEventStore, SqlSnapshotStore } from 'potter/postgres';
import { describeSnapshotStoreContract } from '../../contracts/snapshot-store.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';

const pg = usePostgresSchemas('snap', { max: 4 });

describeSnapshotStoreContract('PostgreSQL', async () => {
  const schema = pg.schema();
  const eventStore = await createPostgresEventStore({ pool: pg.pool(), schema });
  return { store: SqlSnapshotStore.for(eventStore), cleanup: () => eventStore.close() };
});

@Event('tally.added')
class Added {
  constructor(readonly n: number) {}
}
let folded = 0;
@Aggregate('Tally')
class Tally extends AggregateRoot {
  sum = 0;
  add(n: number): void {
    this.apply(new Added(n));
  }
  @Apply(Added)
  protected on(e: Added): void {
    folded++;
    this.sum += e.n;
  }
}

describe('snapshots with the PostgreSQL event store', () => {
  it('loads snapshot + tail from PostgreSQL', async () => {
    const schema = pg.schema('repo');
    const eventStore = await createPostgresEventStore({ pool: pg.pool(), schema });
    const snapshotStore = SqlSnapshotStore.for(eventStore);
    const repository = new AggregateRepository(Tally, {
      eventStore,
      snapshotStore,
      snapshotStrategy: Frequency(50),
    });
    const tally = repository.create('t');
    for (let i = 1; i <= 120; i++) {
      tally.add(i);
      if (i % 7 === 0 || i === 120) await repository.save(tally);
    }
    await repository.whenIdle();
    const stored = await snapshotStore.load('Tally-t');
    expect(stored?.version).toBeGreaterThanOrEqual(100);
    folded = 0;
    const loaded = await repository.load('t');
    expect(loaded.sum).toBe((120 * 121) / 2);
    expect(loaded.version).toBe(120);
    expect(folded).toBe(120 - stored!.version);
    await eventStore.close();
  });
});
