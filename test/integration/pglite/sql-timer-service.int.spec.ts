import { migrateEventStore, PGliteSqlClient } from 'potter/pglite';
import { SqlTimerService } from '../../../src/saga/sql';
import { describeTimerServiceContract, eventually } from '../../contracts/timer-service.contract';

// One PGlite database for the file (starting one takes seconds). PGlite has one connection:
// handlers query through `firing.tx`, and a cancel during a firing simply waits its turn.
let client: PGliteSqlClient;
const schema = 'timers_check';

beforeAll(async () => {
  client = await PGliteSqlClient.open();
  await migrateEventStore(client, { schema });
}, 60_000);

afterAll(async () => {
  await client?.close();
});

describeTimerServiceContract('PGlite', { durable: true }, async () => ({
  create: (options) => new SqlTimerService(client, { schema, pollIntervalMs: 50, ...options }),
  cleanup: async () => undefined,
}));

describe('SqlTimerService on PGlite', () => {
  let service: SqlTimerService;

  afterEach(async () => {
    await service?.stop();
  });

  it('commits writes made through firing.tx with the firing, and rolls them back when the handler throws', async () => {
    await client.query(`CREATE TABLE ${schema}.effects (timer_id text, attempt integer)`);
    service = SqlTimerService.for(
      { client, schema },
      { pollIntervalMs: 50, retry: { initialDelayMs: 50, jitter: 'none' } },
    );
    service.handle('effect', async (timer, firing) => {
      await firing.tx?.query(`INSERT INTO ${schema}.effects VALUES ($1, $2)`, [timer.id, firing.attempt]);
      if (firing.attempt === 1) throw new Error('after the write');
    });
    await service.start();
    await service.schedule({ id: 'e-1', kind: 'effect', dueAt: Date.now() });
    await eventually('the timer fired twice', async () => (await service.get('e-1')) === undefined);
    const { rows } = await client.query(`SELECT timer_id, attempt FROM ${schema}.effects`);
    expect(rows).toEqual([{ timer_id: 'e-1', attempt: 2 }]);
  });

  it('schedules and cancels in the caller’s transaction', async () => {
    service = SqlTimerService.for({ client, schema }, { pollIntervalMs: 50 });
    await expect(
      client.transaction(async (tx) => {
        await service.schedule({ id: 'tx-1', kind: 'none', dueAt: Date.now() + 60_000 }, { tx });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await service.get('tx-1')).toBeUndefined();

    await client.transaction((tx) =>
      service.schedule({ id: 'tx-1', kind: 'none', dueAt: Date.now() + 60_000 }, { tx }),
    );
    expect(await service.get('tx-1')).toMatchObject({ id: 'tx-1' });
    await expect(
      client.transaction(async (tx) => {
        expect(await service.cancel('tx-1', { tx })).toBe(true);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await service.get('tx-1')).toMatchObject({ id: 'tx-1' });
    expect(await client.transaction((tx) => service.cancel('tx-1', { tx }))).toBe(true);
    expect(await service.get('tx-1')).toBeUndefined();
  });
});
