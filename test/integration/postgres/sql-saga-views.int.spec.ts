import { migrateEventStore, PgSqlClient, SqlSagaViews } from 'potter/postgres';
import { describeSagaViewStoreContract } from '../../contracts/saga-views.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';

// Every schema this file creates starts with this prefix; all are dropped at the end.
const pg = usePostgresSchemas('saga_views');

describeSagaViewStoreContract(
  'PostgreSQL',
  async () => {
    const schema = pg.schema();
    const client = new PgSqlClient({ pool: pg.pool() });
    await migrateEventStore(client, { schema });
    const views = new SqlSagaViews(client, { schema });
    return { views, cleanup: () => views.close() };
  },
  { numRuns: 25 },
);
