import type { Logger } from '../../../src/core/logger';
import { SqlTimerService } from '../../../src/saga/sql';
import { migrateEventStore, PgSqlClient } from 'potter/postgres';
import {
  describeTimerServiceContract,
  eventually,
  gate,
  sleep,
} from '../../contracts/timer-service.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import { postgresUrl } from '../../support/services';

const pg = usePostgresSchemas('timers', { max: 12 });

let client: PgSqlClient;
let schema: string;

beforeAll(async () => {
  client = new PgSqlClient({ pool: pg.pool() });
  schema = pg.schema('contract');
  await migrateEventStore(client, { schema });
});

describeTimerServiceContract('PostgreSQL', { durable: true }, async () => ({
  create: (options) => new SqlTimerService(client, { schema, pollIntervalMs: 50, ...options }),
  cleanup: async () => undefined,
}));

describe('SqlTimerService on PostgreSQL', () => {
  let s: string;
  const services: SqlTimerService[] = [];
  const clients: PgSqlClient[] = [];

  /** A client with its own pool, as another process would have. */
  const otherClient = (): PgSqlClient => {
    const other = new PgSqlClient({ connectionString: postgresUrl(), poolConfig: { max: 4 } });
    clients.push(other);
    return other;
  };
  const service = (sql: PgSqlClient, options: ConstructorParameters<typeof SqlTimerService>[1] = {}) => {
    const created = new SqlTimerService(sql, { schema: s, pollIntervalMs: 50, ...options });
    services.push(created);
    return created;
  };
  const effects = async (): Promise<{ timer_id: string; attempt: number }[]> =>
    (
      await pg.pool().query<{
        timer_id: string;
        attempt: number;
      }>(`SELECT timer_id, attempt FROM "${s}".effects ORDER BY timer_id, attempt`)
    ).rows;

  beforeEach(async () => {
    s = pg.schema();
    await migrateEventStore(client, { schema: s });
    await pg.pool().query(`CREATE TABLE "${s}".effects (timer_id text NOT NULL, attempt integer NOT NULL)`);
  });

  afterEach(async () => {
    await Promise.all(services.splice(0).map((created) => created.stop()));
    await Promise.all(clients.splice(0).map((created) => created.close()));
  });

  it('fires each of 300 due timers exactly once with 3 instances polling one table', async () => {
    const calls = new Map<string, number>();
    const byInstance = [0, 0, 0];
    const instances = [0, 1, 2].map((index) => {
      const instance = service(otherClient(), {
        pollIntervalMs: 20,
        batchSize: 25,
        instanceId: `i-${index}`,
      });
      instance.handle('bulk', async (timer, firing) => {
        calls.set(timer.id, (calls.get(timer.id) ?? 0) + 1);
        byInstance[index] = (byInstance[index] ?? 0) + 1;
        await firing.tx?.query(`INSERT INTO "${s}".effects VALUES ($1, $2)`, [timer.id, firing.attempt]);
        await firing.tx?.query('SELECT pg_sleep(0.001)');
      });
      return instance;
    });
    await Promise.all(instances.map((instance) => instance.start()));

    const now = Date.now();
    await client.transaction(async (tx) => {
      for (let i = 0; i < 300; i++) {
        await instances[0]?.schedule({ id: `bulk-${i}`, kind: 'bulk', dueAt: now, payload: i }, { tx });
      }
    });
    await eventually('300 firings', () => [...calls.values()].reduce((sum, n) => sum + n, 0) >= 300, 30_000);
    await sleep(200);
    expect(calls.size).toBe(300);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(byInstance.reduce((sum, n) => sum + n, 0)).toBe(300);
    expect(byInstance.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(await effects()).toHaveLength(300);
    const { rows } = await pg.pool().query(`SELECT count(*)::int AS n FROM "${s}".timers`);
    expect(rows[0]).toEqual({ n: 0 });
  }, 60_000);

  it('commits writes made through firing.tx with the firing, and rolls them back when the handler throws', async () => {
    const timers = service(client, { retry: { initialDelayMs: 50, jitter: 'none' } });
    timers.handle('effect', async (timer, firing) => {
      await firing.tx?.query(`INSERT INTO "${s}".effects VALUES ($1, $2)`, [timer.id, firing.attempt]);
      if (firing.attempt === 1) throw new Error('after the write');
    });
    await timers.start();
    await timers.schedule({ id: 'e-1', kind: 'effect', dueAt: Date.now() });
    await eventually('the timer fired twice', async () => (await timers.get('e-1')) === undefined);
    expect(await effects()).toEqual([{ timer_id: 'e-1', attempt: 2 }]);
  });

  it('records a failed firing: attempts, last error and a due time pushed by the backoff', async () => {
    const timers = service(client, { retry: { initialDelayMs: 60_000, jitter: 'none' } });
    timers.handle('failing', () => {
      throw new TypeError('cannot do it');
    });
    await timers.start();
    const before = Date.now();
    await timers.schedule({ id: 'f-1', kind: 'failing', dueAt: before });
    await eventually('the failure was recorded', async () => (await timers.get('f-1'))?.attempts === 1);
    const { rows } = await pg
      .pool()
      .query<{ last_error: string; delay_ms: number }>(
        `SELECT last_error, (extract(epoch FROM due_at - now()) * 1000)::float8 AS delay_ms FROM "${s}".timers`,
      );
    expect(rows[0]?.last_error).toBe('TypeError: cannot do it');
    expect(rows[0]?.delay_ms).toBeGreaterThan(50_000);
    expect(rows[0]?.delay_ms).toBeLessThanOrEqual(60_000);
  });

  it('a cancel racing a firing in progress waits for its commit, then resolves to false', async () => {
    const release = gate();
    let started = false;
    const timers = service(client);
    timers.handle('slow', async (timer, firing) => {
      started = true;
      await firing.tx?.query(`INSERT INTO "${s}".effects VALUES ($1, $2)`, [timer.id, firing.attempt]);
      await release.promise;
    });
    await timers.start();
    await timers.schedule({ id: 'race-1', kind: 'slow', dueAt: Date.now() });
    await eventually('the handler started', () => started);

    // Another process cancels.
    const canceller = service(otherClient());
    let effectsWhenCancelled: unknown[] | undefined;
    const cancelling = canceller.cancel('race-1').then(async (result) => {
      effectsWhenCancelled = await effects();
      return result;
    });
    await sleep(300);
    expect(effectsWhenCancelled).toBeUndefined(); // blocked behind the firing's row lock
    expect(await effects()).toEqual([]); // the firing has not committed
    release.open();
    expect(await cancelling).toBe(false);
    expect(effectsWhenCancelled).toEqual([{ timer_id: 'race-1', attempt: 1 }]);
  });

  it('a cancel that committed first means the handler never runs; one rolled back does not cancel', async () => {
    const fired: string[] = [];
    const timers = service(client);
    timers.handle('k', (timer) => {
      fired.push(timer.id);
    });
    await timers.start();
    await timers.schedule({ id: 'c-1', kind: 'k', dueAt: Date.now() + 200 });
    await timers.schedule({ id: 'c-2', kind: 'k', dueAt: Date.now() + 200 });

    // Another process cancels c-1 and c-2 in transactions it holds open past the due time: the
    // firing skips the locked rows meanwhile.
    const other = otherClient();
    const canceller = service(other);
    const held = gate();
    const committed = other.transaction(async (tx) => {
      expect(await canceller.cancel('c-1', { tx })).toBe(true);
      await held.promise;
    });
    const rolledBack = other.transaction(async (tx) => {
      expect(await canceller.cancel('c-2', { tx })).toBe(true);
      await held.promise;
      throw new Error('changed its mind');
    });
    await sleep(600);
    expect(fired).toEqual([]);
    held.open();
    await committed;
    await expect(rolledBack).rejects.toThrow('changed its mind');
    await eventually('c-2 fired', () => fired.includes('c-2'));
    await sleep(200);
    expect(fired).toEqual(['c-2']);
  });

  it('schedules and cancels in the caller’s transaction', async () => {
    const timers = service(client);
    await expect(
      client.transaction(async (tx) => {
        await timers.schedule({ id: 'tx-1', kind: 'none', dueAt: Date.now() + 60_000 }, { tx });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await timers.get('tx-1')).toBeUndefined();
    await client.transaction((tx) =>
      timers.schedule({ id: 'tx-1', kind: 'none', dueAt: Date.now() + 60_000 }, { tx }),
    );
    expect(await timers.get('tx-1')).toMatchObject({ id: 'tx-1', kind: 'none' });
    expect(await client.transaction((tx) => timers.cancel('tx-1', { tx }))).toBe(true);
    expect(await timers.get('tx-1')).toBeUndefined();
  });

  it('wakes another instance with NOTIFY when a timer due before its next poll is scheduled', async () => {
    const fired: number[] = [];
    const listener = service(otherClient(), { pollIntervalMs: 60_000 });
    listener.handle('notified', () => {
      fired.push(Date.now());
    });
    await listener.start();
    await sleep(200); // its first round is over: it sleeps for a minute

    const scheduler = service(client, { pollIntervalMs: 60_000 }); // never started: it only writes
    const dueAt = Date.now() + 300;
    await scheduler.schedule({ id: 'n-1', kind: 'notified', dueAt });
    await eventually('the other instance fired the timer', () => fired.length === 1, 5_000);
    expect(fired[0]).toBeGreaterThanOrEqual(dueAt);
    expect(fired[0]).toBeLessThan(dueAt + 1_000);
  });

  it('sleeps until the soonest timer it saw when polling, not a whole poll interval', async () => {
    const scheduler = service(client, { notify: false });
    const dueAt = Date.now() + 1_500;
    await scheduler.schedule({ id: 's-1', kind: 'seen', dueAt });
    const fired: number[] = [];
    const poller = service(otherClient(), { pollIntervalMs: 60_000, notify: false });
    poller.handle('seen', () => {
      fired.push(Date.now());
    });
    await poller.start();
    await eventually('the timer fired', () => fired.length === 1, 5_000);
    expect(fired[0]).toBeGreaterThanOrEqual(dueAt);
    expect(fired[0]).toBeLessThan(dueAt + 1_000);
  });

  it('logs polling errors and keeps going until the table exists', async () => {
    const errors: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {},
      error: (message) => errors.push(message),
    };
    const missing = pg.schema('not_migrated_yet');
    const timers = new SqlTimerService(client, { schema: missing, pollIntervalMs: 20, logger });
    services.push(timers);
    const fired: string[] = [];
    timers.handle('k', (timer) => {
      fired.push(timer.id);
    });
    await timers.start();
    await eventually('polling errors were logged', () => errors.length >= 2);
    expect(errors[0]).toMatch(/Looking for due timers failed/);

    await migrateEventStore(client, { schema: missing });
    await timers.schedule({ id: 'k-1', kind: 'k', dueAt: Date.now() });
    await eventually('the timer fired once the table existed', () => fired.length === 1);
  });
});
