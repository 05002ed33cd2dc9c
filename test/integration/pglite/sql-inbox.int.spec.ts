import { migrateEventStore, PGliteSqlClient, SqlInbox } from 'potter/pglite';

// The same SQL as on PostgreSQL, on PGlite (one connection: transactions run one after the other).
describe('SqlInbox on PGlite', () => {
  let client: PGliteSqlClient;
  let inbox: SqlInbox;

  beforeAll(async () => {
    client = await PGliteSqlClient.open();
    await migrateEventStore(client, { schema: 'inbox_check' });
    inbox = new SqlInbox(client, { schema: 'inbox_check' });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
  });

  it('runs the handler once among concurrent calls with the same id', async () => {
    let runs = 0;
    const results = await Promise.all(Array.from({ length: 10 }, () => inbox.once('c', 'm-1', () => ++runs)));
    expect(runs).toBe(1);
    expect(results.filter((result) => result.processed)).toEqual([{ processed: true, result: 1 }]);
    expect(await inbox.seen('c', 'm-1')).toBe(true);
  });

  it('records in the caller’s transaction and rolls back with it', async () => {
    await expect(
      client.transaction(async (tx) => {
        expect(await inbox.once('c', 'm-2', () => 'ok', { tx })).toEqual({ processed: true, result: 'ok' });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect(await inbox.seen('c', 'm-2')).toBe(false);
    expect(await inbox.seen('c', 'm-2')).toBe(true);
  });
});
