import { migrateEventStore, PgSqlClient, SqlEventStore, SqlSagaStore } from 'potter/postgres';
import { describeSagaStoreEvents, eventsOf, streamOf } from '../../contracts/saga-store-events.contract';
import { lease, next, sagaState } from '../../contracts/saga-store.contract';
import { SagaOwnershipLostError } from '../../../src/saga/errors';
import { usePostgresSchemas } from '../../support/postgres-schemas';

// Every schema this file creates starts with this prefix; all are dropped at the end.
const pg = usePostgresSchemas('saga_events');

describeSagaStoreEvents('SqlSagaStore.for(sqlEventStore) on PostgreSQL', async () => {
  const schema = pg.schema();
  const client = new PgSqlClient({ pool: pg.pool() });
  await migrateEventStore(client, { schema });
  const eventStore = new SqlEventStore(client, { schema });
  const store = SqlSagaStore.for(eventStore);
  return { store, eventStore, cleanup: () => store.close() };
});

describe('SqlSagaStore on PostgreSQL: events and state in one transaction', () => {
  it('records nothing with recordEvents: false or with new SqlSagaStore(client)', async () => {
    const schema = pg.schema('quiet');
    const client = new PgSqlClient({ pool: pg.pool() });
    await migrateEventStore(client, { schema });
    const eventStore = new SqlEventStore(client, { schema });
    for (const store of [
      SqlSagaStore.for(eventStore, { recordEvents: false }),
      new SqlSagaStore(client, { schema }),
    ]) {
      expect(store.eventStore).toBeUndefined();
      const created = sagaState();
      await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
      const saved = next(created, { status: 'completed' });
      await store.save(saved, lease('a'), eventsOf(saved, ['saga.completed']));
      await expect(streamOf(eventStore, created.sagaId)).resolves.toEqual([]);
    }
  });

  it('records exactly the winner’s events when two owners race to save one version', async () => {
    const schema = pg.schema('race');
    const client = new PgSqlClient({ pool: pg.pool() });
    await migrateEventStore(client, { schema });
    const eventStore = new SqlEventStore(client, { schema });
    const store = SqlSagaStore.for(eventStore);
    for (let round = 0; round < 10; round++) {
      const created = sagaState();
      await store.create(created, lease('a'), eventsOf(created, ['saga.started']));
      // Two writers of version 2 as owner 'a' (a replayed write): exactly one lands.
      const left = next(created, { status: 'running', currentStep: 'left' });
      const right = next(created, { status: 'running', currentStep: 'right' });
      const results = await Promise.allSettled([
        store.save(left, lease('a'), eventsOf(left, ['saga.step.started', { step: 'left', attempt: 1 }])),
        store.save(right, lease('a'), eventsOf(right, ['saga.step.started', { step: 'right', attempt: 1 }])),
      ]);
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      // The loser is told it lost the saga, as without events (not an event-store conflict).
      const lost = results.find((result) => result.status === 'rejected')!;
      expect(lost.reason).toBeInstanceOf(SagaOwnershipLostError);
      const winner = results[0]!.status === 'fulfilled' ? 'left' : 'right';
      await expect(store.load(created.sagaId)).resolves.toMatchObject({ currentStep: winner });
      const recorded = await streamOf(eventStore, created.sagaId);
      expect(recorded.map((event) => [event.streamVersion, event.payload.step])).toEqual([
        [1, undefined],
        [2, winner],
      ]);
    }
  });
});
