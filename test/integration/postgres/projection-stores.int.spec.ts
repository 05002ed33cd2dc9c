import { PgSqlClient, SqlProjectionStore, SqlReadModelStore } from 'potter/postgres';
import { describeProjectionStoreContract } from '../../contracts/projection-store.contract';
import { describeReadModelStoreContract } from '../../contracts/read-model-store.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';

// Every schema this file creates starts with this prefix; all are dropped at the end.
const pg = usePostgresSchemas('proj', { max: 12 });

describeProjectionStoreContract('PostgreSQL', async () => {
  const schema = pg.schema();
  const client = new PgSqlClient({ pool: pg.pool() });
  const store = await SqlProjectionStore.create(client, { schema });
  return { store, cleanup: () => store.close() };
});

describeReadModelStoreContract(
  'PostgreSQL',
  async () => {
    const schema = pg.schema();
    const client = new PgSqlClient({ pool: pg.pool() });
    const store = await SqlReadModelStore.create(client, { schema });
    return { store, cleanup: () => store.close() };
  },
  { transactional: true },
);

describe('SQL projection stores on PostgreSQL', () => {
  it('run leases on the database clock', async () => {
    const schema = pg.schema('clock');
    const store = await SqlProjectionStore.create(new PgSqlClient({ pool: pg.pool() }), { schema });
    const { record } = (await store.acquire('p', 'me', 60_000, { position: '' }))!;
    const { rows } = await pg.pool().query<{ now: Date }>('SELECT now() AS now');
    const ahead = record.leaseExpiresAt!.getTime() - rows[0]!.now.getTime();
    expect(ahead).toBeGreaterThan(55_000);
    expect(ahead).toBeLessThanOrEqual(60_000);
  });

  it('keeps the fence under concurrent takeovers: one owner per token, tokens increase', async () => {
    const schema = pg.schema('takeover');
    const store = await SqlProjectionStore.create(new PgSqlClient({ pool: pg.pool() }), { schema });
    const tokens: number[] = [];
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.acquire('p', `r${round}-o${i}`, 10_000, { position: '' })),
      );
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      tokens.push(winners[0]!.lease.token);
      await store.release(winners[0]!.lease);
    }
    expect(tokens).toEqual([1, 2, 3, 4, 5]);
  });
});
