import { ConfigurationError } from 'potter';
import { migrateEventStore, PGliteSqlClient, SqlEventStore, SqlSagaStore } from 'potter/pglite';
import { describeSagaStoreEvents, eventsOf, streamOf } from '../../contracts/saga-store-events.contract';
import { lease, next, sagaState } from '../../contracts/saga-store.contract';

// One PGlite database for the file (starting one takes seconds); every test gets its own schema.
let client: PGliteSqlClient;
let schemas = 0;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

async function newSchema(): Promise<string> {
  const schema = `saga_events_${++schemas}`;
  await migrateEventStore(client, { schema });
  return schema;
}

describeSagaStoreEvents('SqlSagaStore.for(sqlEventStore) on PGlite', async () => {
  const schema = await newSchema();
  const eventStore = new SqlEventStore(client, { schema });
  const store = SqlSagaStore.for(eventStore);
  return {
    store,
    eventStore,
    cleanup: async () => {
      await store.close();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
});

describe('SqlSagaStore on PGlite: which stores record events', () => {
  it('records nothing with recordEvents: false, with new SqlSagaStore(client), or beside a plain { client, schema }', async () => {
    const schema = await newSchema();
    const eventStore = new SqlEventStore(client, { schema });
    const stores = [
      SqlSagaStore.for(eventStore, { recordEvents: false }),
      new SqlSagaStore(client, { schema }),
      SqlSagaStore.for({ client, schema }),
    ];
    for (const store of stores) {
      expect(store.eventStore).toBeUndefined();
      const created = sagaState();
      await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
      const saved = next(created, { status: 'completed' });
      await store.save(saved, lease('a'), eventsOf(saved, ['saga.completed']));
      await expect(store.load(created.sagaId)).resolves.toEqual(saved);
      await expect(streamOf(eventStore, created.sagaId)).resolves.toEqual([]);
    }
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.events`);
    expect(rows[0]!.n).toBe(0);
    // Asking for events beside a plain { client, schema } is a mistake, said at once.
    expect(() => SqlSagaStore.for({ client, schema }, { recordEvents: true })).toThrow(ConfigurationError);
  });

  it('writes neither the state nor the events when recording the events fails (one statement)', async () => {
    const schema = await newSchema();
    const store = SqlSagaStore.for(new SqlEventStore(client, { schema }));
    const created = sagaState();
    // jsonb refuses "\u0000": the events cannot be stored, so the create must not happen either.
    const poisoned = eventsOf(created, [
      'saga.started',
      { error: { name: 'Error', message: 'nul \u0000 inside' } },
    ]);
    await expect(store.create(created, lease('a'), poisoned)).rejects.toThrow();
    await expect(store.load(created.sagaId)).resolves.toBeUndefined();
    await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
    const saved = { ...created, version: created.version + 1 };
    await expect(
      store.save(
        saved,
        lease('a'),
        eventsOf(saved, ['saga.completed', { error: { name: 'E', message: '\u0000' } }]),
      ),
    ).rejects.toThrow();
    await expect(store.load(created.sagaId)).resolves.toMatchObject({ version: created.version });
  });
});
