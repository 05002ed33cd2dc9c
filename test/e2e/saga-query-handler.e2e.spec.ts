import { runExample, type ExampleRun } from './support/run-example';
import {
  expectCleanExit,
  pgliteBackend,
  postgresBackend,
  type SagaExampleBackend,
} from './support/saga-examples';

/**
 * examples/saga-query-handler as a user runs it — the built JavaScript, importing the built
 * package — twice on one PGlite data directory, and once on PostgreSQL (a fresh schema), whose
 * read model tables are then read directly. PostgreSQL must be up (`bash scripts/services/up`):
 * when it is not, the PostgreSQL tests fail, they never skip.
 */

const LAST_LINE = 'Stopped; the sagas and the read model stay in the store: run it again for more';

/** The lines of the section that starts with `title`, up to the next blank line. */
function section(stdout: string, title: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith(title));
  expect(start).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** Checks the report of a run whose trips are numbered from `trip` and invoices from `inv`. */
function expectReport(stdout: string, trip: number, inv: number): void {
  const [t1, t2, t3, t4] = [0, 1, 2, 3].map((i) => `trip-${trip + i}`) as [string, string, string, string];
  const [i1, i2, i3] = [0, 1, 2].map((i) => `inv-${inv + i}`) as [string, string, string];

  expect(section(stdout, 'Running sagas').map((line) => line.replace(/ +/g, ' ').trim())).toEqual([
    `${t1} trip for ann -> completed`,
    `${t2} trip for bob: card declined -> compensated`,
    `${t3} trip for cleo: the payment provider times out once -> completed`,
    `${t4} trip for dan: card declined, airline won't cancel -> compensation_failed`,
    `${i1} invoice for acme -> completed`,
    `${i2} invoice for globex: the e-mail bounces -> compensated`,
    `${i3} invoice for initech -> completed`,
  ]);
  expect(stdout).toContain('Read model caught up (projection potter.sagas)');

  // Counts of this run's sagas, by status, all together and by saga type.
  expect(section(stdout, 'CountSagasByStatus (sagas of this run)')).toEqual([
    '  all           completed 4, compensated 2, compensation_failed 1',
    '  trip-booking  completed 2, compensated 1, compensation_failed 1',
    '  invoicing     completed 2, compensated 1',
  ]);

  // The failed sagas, two per page: the cursor leads to the last one.
  expect(
    section(stdout, 'ListSagas: the failed ones').map((line) => line.replace(/ +/g, ' ').trim()),
  ).toEqual([
    'page 1 (nextCursor: more)',
    `${t2} trip-booking compensated, failed at charge-card: CardDeclinedError`,
    `${t4} trip-booking compensation_failed, failed at charge-card: CardDeclinedError`,
    'page 2 (last page)',
    `${i2} invoicing compensated, failed at email-invoice: Error`,
  ]);

  // The saga stuck in compensation_failed: why it failed, and what failed last.
  expect(section(stdout, `GetSaga ${t4}: the one that needs an operator`)).toEqual([
    '  status             compensation_failed (current step book-flight)',
    '  failed because     charge-card: CardDeclinedError: card of dan declined',
    '  latest error       book-flight: airline API unavailable: the flight is still booked',
    '  completed steps    book-flight, book-hotel',
    '  compensated steps  book-hotel',
    '  steps              book-flight compensation_failed, book-hotel compensated, charge-card failed',
  ]);

  // The history of the retried saga, each attempt timed (the steps wait 20, 10 and 15 ms).
  const history = section(stdout, `GetSagaHistory ${t3}`).map((line) => line.replace(/ +/g, ' ').trim());
  const timed = (line: string): [string, number] => {
    const match = /^(.*) took (\d+) ms(.*)$/.exec(line);
    expect(match).not.toBeNull();
    return [`${match![1]}${match![3]}`, Number(match![2])];
  };
  expect(history.filter((line) => !line.includes(' took '))).toEqual([
    '#1 saga.started',
    '#2 saga.step.started book-flight #1',
    '#4 saga.step.started book-hotel #1',
    '#6 saga.step.started charge-card #1',
    '#8 saga.step.started charge-card #2',
    '#10 saga.completed',
  ]);
  const durations = history.filter((line) => line.includes(' took ')).map(timed);
  expect(durations.map(([line]) => line)).toEqual([
    '#3 saga.step.completed book-flight #1',
    '#5 saga.step.completed book-hotel #1',
    '#7 saga.step.failed charge-card #1 (payment provider timed out, retried)',
    '#9 saga.step.completed charge-card #2',
  ]);
  // Timers may fire a millisecond early; anything slower is the machine's load.
  const least = [20, 10, 15, 15];
  expect(durations.map(([, ms], k) => ms >= least[k]! - 1)).toEqual([true, true, true, true]);

  // The app's own query handler, built on ListSagas.
  expect(section(stdout, 'GetFailuresByStep')).toEqual([
    `  trip-booking/charge-card: 2 (${t2}, ${t4}) - CardDeclinedError: card of dan declined`,
    `  invoicing/email-invoice: 1 (${i2}) - Error: mailbox of globex does not exist`,
  ]);

  // The operator resolves the stuck saga; the read model follows.
  expect(section(stdout, `An operator cancels the flight of ${t4}`)).toEqual([
    `  GetSaga ${t4}: resolved`,
    '  CountSagasByStatus: completed 4, compensated 2, resolved 1',
  ]);
}

describe('examples/saga-query-handler on PGlite', () => {
  let backend: SagaExampleBackend;
  let first: ExampleRun;
  let second: ExampleRun;

  beforeAll(async () => {
    backend = pgliteBackend('saga-query-handler');
    first = await runExample('saga-query-handler', backend.env);
    second = await runExample('saga-query-handler', backend.env);
    console.log(`saga-query-handler on PGlite: ${first.ms} ms, then ${second.ms} ms`);
  }, 180_000);

  afterAll(() => backend?.cleanUp());

  it('exits 0 with nothing on stderr, on PGlite', () => {
    expectCleanExit(first, LAST_LINE);
    expect(first.stdout).toMatch(
      /^Saga store: PGlite at \S+\/\.potter\/saga-query-handler \(saga events recorded with each write\)$/m,
    );
    expect(first.stdout).not.toContain('earlier runs');
  });

  it('reports the sagas through the saga queries and the app’s own query handler', () => {
    expectReport(first.stdout, 1, 1);
  });

  it('keeps the read model between runs: a second run numbers its sagas after the first’s and reports only its own', () => {
    expectCleanExit(second, LAST_LINE);
    expect(second.stdout).toContain('7 saga(s) of earlier runs in the read model');
    expectReport(second.stdout, 5, 4);
  });
});

describe('examples/saga-query-handler on PostgreSQL', () => {
  let backend: SagaExampleBackend;
  let run: ExampleRun;

  beforeAll(async () => {
    backend = await postgresBackend('saga_query_handler');
    run = await runExample('saga-query-handler', backend.env);
    console.log(`saga-query-handler on PostgreSQL: ${run.ms} ms`);
  }, 180_000);

  afterAll(() => backend?.cleanUp());

  it('exits 0 with nothing on stderr, and reports the same, on PostgreSQL', () => {
    expectCleanExit(run, LAST_LINE);
    expect(run.stdout).toContain(
      `Saga store: PostgreSQL, schema ${String(backend.env.POTTER_POSTGRES_SCHEMA)} (saga events recorded with each write)`,
    );
    expectReport(run.stdout, 1, 1);
  });

  it('leaves the read model in saga_views and saga_view_history, matching the sagas table', async () => {
    const views = await backend.query<{
      saga_id: string;
      saga_name: string;
      status: string;
      version: number;
    }>(`SELECT saga_id, saga_name, status, version FROM <schema>.saga_views ORDER BY saga_id`);
    const sagas = await backend.query<{ saga_id: string; saga_name: string; status: string }>(
      `SELECT saga_id, saga_name, status FROM <schema>.sagas ORDER BY saga_id`,
    );
    expect(views.map(({ saga_id, saga_name, status }) => ({ saga_id, saga_name, status }))).toEqual(sagas);
    expect(views.map((view) => [view.saga_id, view.status])).toEqual([
      ['inv-1', 'completed'],
      ['inv-2', 'compensated'],
      ['inv-3', 'completed'],
      ['trip-1', 'completed'],
      ['trip-2', 'compensated'],
      ['trip-3', 'completed'],
      ['trip-4', 'resolved'],
    ]);
    // One history row per recorded saga event, and each view at its stream's last version.
    const counts = await backend.query<{ saga_id: string; history: number; events: number }>(
      `SELECT v.saga_id,
              (SELECT count(*)::int FROM <schema>.saga_view_history h WHERE h.saga_id = v.saga_id) AS history,
              (SELECT count(*)::int FROM <schema>.events e WHERE e.stream_id = 'potter.saga-' || v.saga_id) AS events
         FROM <schema>.saga_views v ORDER BY v.saga_id`,
    );
    for (const row of counts) expect(row.history).toBe(row.events);
    expect(counts.map((row) => row.history)).toEqual(views.map((view) => view.version));
    expect(counts.find((row) => row.saga_id === 'trip-3')?.history).toBe(10);
  });
});
