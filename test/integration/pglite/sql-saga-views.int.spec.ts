import { migrateEventStore, PGliteSqlClient, SqlSagaViews } from 'potter/pglite';
import { applyAll, describeSagaViewStoreContract, SagaScript, T0 } from '../../contracts/saga-views.contract';

// One PGlite database for the file (starting one takes seconds); every test gets its own schema.
let client: PGliteSqlClient;
let schemas = 0;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

describeSagaViewStoreContract(
  'PGlite',
  async () => {
    const schema = `saga_views_${++schemas}`;
    await migrateEventStore(client, { schema });
    const views = new SqlSagaViews(client, { schema });
    return {
      views,
      cleanup: async () => {
        await views.close();
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  },
  { numRuns: 25 },
);

describe('SqlSagaViews on PGlite', () => {
  it('applies inside the given transaction: a rollback leaves neither view nor history', async () => {
    const schema = 'saga_views_tx';
    await migrateEventStore(client, { schema });
    const views = SqlSagaViews.for({ client, schema });
    const s = new SagaScript('s1');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'a', attempt: 1 });
    await applyAll(views, s.events.slice(0, 1));
    await expect(
      client.transaction(async (tx) => {
        for (const event of s.events) await views.apply(event, tx);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    // Only what was applied outside the transaction: the first event.
    await expect(views.get('s1')).resolves.toMatchObject({ version: 1 });
    await expect(views.history('s1')).resolves.toHaveLength(1);
    await client.transaction(async (tx) => {
      for (const event of s.events) await views.apply(event, tx);
    });
    await expect(views.get('s1')).resolves.toMatchObject({ version: 2, currentStep: 'a' });
    await views.reset();
    await expect(views.get('s1')).resolves.toBeUndefined();
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
  });
});
