import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { Aggregate, AggregateRepository, AggregateRoot, Apply, Event, Frequency } from 'potter';
import { createPostgresEventStore, SqlSnapshotStore } from 'potter/postgres';
import { describeSnapshotStoreContract } from '../../contracts/snapshot-store.contract';
import { postgresUrl, serviceUnavailable } from '../../support/services';

const prefix = `snap_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
let pool: Pool;
let schemas = 0;

beforeAll(async () => {
  pool = new Pool({ connectionString: postgresUrl(), max: 4 });
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    throw serviceUnavailable('PostgreSQL', postgresUrl(), error);
  }
});

afterAll(async () => {
  const { rows } = await pool.query<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`,
    [prefix],
  );
  for (const { nspname } of rows) await pool.query(`DROP SCHEMA "${nspname}" CASCADE`);
  await pool.end();
});

describeSnapshotStoreContract('PostgreSQL', async () => {
  const schema = `${prefix}_${++schemas}`;
  const eventStore = await createPostgresEventStore({ pool, schema });
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
    const schema = `${prefix}_repo`;
    const eventStore = await createPostgresEventStore({ pool, schema });
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
