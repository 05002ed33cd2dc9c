import { Pool } from 'pg';
import { migrateEventStore, PgSqlClient } from 'potter/postgres';
import { SagaConflictError, SagaOwnershipLostError } from '../../../src/saga/errors';
import type { SagaState } from '../../../src/saga/types';
import { SqlSagaStore } from '../../../src/saga/sql';
import {
  describeSagaStoreContract,
  EXPIRY_WAIT_MS,
  lease,
  next,
  orderContext,
  sagaState,
  SHORT_MS,
} from '../../contracts/saga-store.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import { postgresUrl } from '../../support/services';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Every schema this file creates starts with this prefix; all are dropped at the end.
const pg = usePostgresSchemas('sagas', { max: 24 });

// Leases run on the database clock: the suite lets time pass by sleeping.
describeSagaStoreContract('PostgreSQL', async () => {
  const schema = pg.schema();
  const client = new PgSqlClient({ pool: pg.pool() });
  await migrateEventStore(client, { schema });
  const store = new SqlSagaStore(client, { schema });
  return { store, elapse: sleep, cleanup: () => store.close() };
});

describe('SqlSagaStore on PostgreSQL', () => {
  async function newStore(suffix: string): Promise<{ store: SqlSagaStore; schema: string }> {
    const schema = pg.schema(suffix);
    const client = new PgSqlClient({ pool: pg.pool() });
    await migrateEventStore(client, { schema });
    return { store: SqlSagaStore.for({ client, schema }), schema };
  }

  it('runs leases on the database clock', async () => {
    const { store, schema } = await newStore('clock');
    const state = sagaState();
    await store.create(state, lease('a', 60_000));
    const { rows } = await pg
      .pool()
      .query<{ ahead: number }>(
        `SELECT extract(epoch FROM lease_expires_at - now()) * 1000 AS ahead FROM "${schema}".sagas`,
      );
    expect(Number(rows[0]!.ahead)).toBeGreaterThan(55_000);
    expect(Number(rows[0]!.ahead)).toBeLessThanOrEqual(60_000);
  });

  it('stores JSON: undefined properties are dropped and dates come back as ISO strings', async () => {
    const { store } = await newStore('json');
    const at = new Date('2026-01-02T03:04:05.006Z');
    const state = sagaState({ context: { ...orderContext(), at, gone: undefined, list: [1, undefined] } });
    await store.create(state, lease('a'));
    const context = (await store.load(state.sagaId))!.context as Record<string, unknown>;
    expect(context.at).toBe('2026-01-02T03:04:05.006Z');
    expect('gone' in context).toBe(false);
    expect(context.list).toEqual([1, null]);
  });

  it('keeps the identity columns of the first insert and the database time of the last write', async () => {
    const { store, schema } = await newStore('columns');
    const state = sagaState({ businessKey: 'k-1', startedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 6) });
    await store.create(state, lease('a'));
    await store.save(next(state, { status: 'completed' }), lease('a'));
    const { rows } = await pg.pool().query(
      `SELECT saga_name, correlation_id, business_key, status, version, owner, lease_expires_at,
              cancel_requested, started_at, updated_at > now() - interval '1 minute' AS recent
         FROM "${schema}".sagas`,
    );
    expect(rows).toEqual([
      {
        saga_name: 'order',
        correlation_id: state.correlationId,
        business_key: 'k-1',
        status: 'completed',
        version: 2,
        owner: null,
        lease_expires_at: null,
        cancel_requested: null,
        started_at: new Date('2026-01-02T03:04:05.006Z'),
        recent: true,
      },
    ]);
  });

  it('gives each of 200 sagas to exactly one of 4 pools claiming concurrently', async () => {
    const { store, schema } = await newStore('claims');
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const state = sagaState();
      ids.push(state.sagaId);
      await store.create(state, lease('seed'));
    }
    await store.release('seed', ids);
    const pools = Array.from({ length: 4 }, () => new Pool({ connectionString: postgresUrl(), max: 3 }));
    try {
      // Open every connection first, so that the claims really run side by side.
      await Promise.all(pools.flatMap((pool) => [0, 1, 2].map(() => pool.query('SELECT 1'))));
      const claimers = pools.flatMap((pool, p) => {
        const claimer = new SqlSagaStore(new PgSqlClient({ pool }), { schema });
        // Three concurrent claim loops per pool, each its own owner.
        return [0, 1, 2].map(async (c) => {
          const owner = `pool${p}-claimer${c}`;
          const got: string[] = [];
          for (;;) {
            const claimed = await claimer.claim(lease(owner), 7);
            if (claimed.length === 0) return { owner, got };
            expect(claimed.map((s) => s.startedAt)).toEqual(
              claimed.map((s) => s.startedAt).sort((a, b) => a - b),
            );
            got.push(...claimed.map((s) => s.sagaId));
          }
        });
      });
      const results = await Promise.all(claimers);
      const all = results.flatMap((r) => r.got);
      expect(all).toHaveLength(200);
      expect(new Set(all).size).toBe(200);
      expect(new Set(all)).toEqual(new Set(ids));
      // The rows agree with what each claimer was given.
      const { rows } = await pg
        .pool()
        .query<{ saga_id: string; owner: string }>(`SELECT saga_id, owner FROM "${schema}".sagas`);
      const ownerOf = new Map(rows.map((row) => [row.saga_id, row.owner]));
      for (const { owner, got } of results) for (const id of got) expect(ownerOf.get(id)).toBe(owner);
      // Several pools took part.
      expect(new Set(results.filter((r) => r.got.length > 0).map((r) => r.owner.split('-')[0])).size).toBe(4);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('lets exactly one of 20 concurrent creates with one business key succeed', async () => {
    const { store } = await newStore('business_key');
    const states = Array.from({ length: 20 }, () => sagaState({ businessKey: 'order-42' }));
    const results = await Promise.allSettled(states.map((state) => store.create(state, lease('a'))));
    const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [states[i]!] : []));
    expect(won).toHaveLength(1);
    const winner = won[0]!;
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      expect(result.reason).toBeInstanceOf(SagaConflictError);
      expect(result.reason).toMatchObject({
        details: { sagaId: winner.sagaId, sagaName: 'order', businessKey: 'order-42' },
      });
    }
    await expect(store.findOpen('order', 'order-42')).resolves.toEqual(winner);
    await expect(store.list()).resolves.toEqual([winner]);
  });

  it('lands only the new owner’s save when two owners race after a lease expiry', async () => {
    const { store } = await newStore('race_saves');
    for (let round = 0; round < 10; round++) {
      const created = sagaState();
      await store.create(created, lease('old', SHORT_MS));
      await sleep(EXPIRY_WAIT_MS);
      await expect(store.claim(lease('new'), 1)).resolves.toEqual([created]);
      const stale: SagaState = next(created, { status: 'running', currentStep: 'stale' });
      const fresh: SagaState = next(created, { status: 'running', currentStep: 'fresh' });
      const [old, mine] = await Promise.allSettled([
        store.save(stale, lease('old')),
        store.save(fresh, lease('new')),
      ]);
      expect(old.status).toBe('rejected');
      expect((old as PromiseRejectedResult).reason).toBeInstanceOf(SagaOwnershipLostError);
      expect(mine.status).toBe('fulfilled');
      await expect(store.load(created.sagaId)).resolves.toEqual(fresh);
    }
  });

  it('lets either a stalled owner’s save or a concurrent claim win, never both', async () => {
    const { store } = await newStore('race_claim');
    for (let round = 0; round < 20; round++) {
      const created = sagaState();
      await store.create(created, lease('old', SHORT_MS));
      await sleep(EXPIRY_WAIT_MS);
      const saved = next(created, { status: 'running' });
      const [save, claim] = await Promise.allSettled([
        store.save(saved, lease('old')),
        store.claim(lease('new'), 1),
      ]);
      const claimed = claim.status === 'fulfilled' && claim.value.length === 1;
      const savedOk = save.status === 'fulfilled';
      expect(claim.status).toBe('fulfilled');
      expect(savedOk !== claimed).toBe(true);
      if (!savedOk) expect((save as PromiseRejectedResult).reason).toBeInstanceOf(SagaOwnershipLostError);
      // Whoever won holds the saga, and its next save lands.
      const winner = claimed ? 'new' : 'old';
      const current = (await store.load(created.sagaId))!;
      await store.save(next(current), lease(winner));
    }
  });
});
