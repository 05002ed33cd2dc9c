import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProjectionEngine, READ_MODELS, bootstrap, silentLogger, type PotterApp } from 'potter';
import { SqlReadModelStore, createPGliteEventStore } from 'potter/pglite';
import { createPostgresEventStore } from 'potter/postgres';
import { createAppModule } from '../../examples/projections/src/app.module';
import { PlaceOrder, ShipOrder } from '../../examples/projections/src/commands/order.commands';
import type { CustomerTotal } from '../../examples/projections/src/projections/customer-totals.projection';
import type { OrderSummary } from '../../examples/projections/src/projections/order-summaries.projection';
import { usePostgresSchemas } from '../support/postgres-schemas';
import { postgresUrl } from '../support/services';
import { root, runExample } from './support/run-example';

/**
 * The projections example and `potter projections` as a user runs them: the built example
 * (`npm run build`), then `node bin/potter.js projections …` against its app module — on PGlite
 * (a fresh data directory, the CLI running while the app is stopped), and on PostgreSQL next to a
 * running instance of the app, which carries out the CLI's requests.
 */

jest.setTimeout(60_000);

const APP = join(root, 'build', 'examples', 'projections', 'src', 'app.module.js');
const BIN = join(root, 'bin', 'potter.js');

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/potter.js …args` with `env` added to (or, for `undefined`, removed from) ours. */
function potter(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string = root,
  timeoutMs = 30_000,
): Promise<CliRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[name];
    else childEnv[name] = value;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: childEnv, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The rows of a `list` table, split into cells. */
function rows(stdout: string): string[][] {
  return stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s{2,}/));
}

const EXPECTED_ORDERS = [
  ['1001', 'ann', 120, 'shipped'],
  ['1002', 'bob', 80, 'placed'],
  ['1003', 'ann', 45, 'cancelled'],
  ['1004', 'cleo', 200, 'shipped'],
  ['1005', 'bob', 60, 'shipped'],
  ['1006', 'dan', 30, 'placed'],
];
const EXPECTED_TOTALS = [
  ['ann', 2, 120],
  ['bob', 2, 140],
  ['cleo', 1, 200],
  ['dan', 1, 30],
];

describe('potter projections on the PGlite example (app stopped)', () => {
  let parent: string;
  let env: Record<string, string | undefined>;
  let dataDir: string;

  beforeAll(() => {
    if (!existsSync(APP)) throw new Error(`${APP} is missing: run \`npm run build\` first (npm test does).`);
    parent = mkdtempSync(join(tmpdir(), 'potter-projections-cli-'));
    dataDir = join(parent, '.potter', 'projections');
    env = { POTTER_DATA_DIR: dataDir, POTTER_POSTGRES_URL: undefined, POTTER_POSTGRES_SCHEMA: undefined };
  });
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  /** Opens the data directory (no other process may have it open) and reads both read models. */
  async function readModels(): Promise<{ orders: unknown[][]; totals: unknown[][] }> {
    const eventStore = await createPGliteEventStore({ dataDir });
    try {
      const models = SqlReadModelStore.for(eventStore);
      const orders = await models
        .collection<OrderSummary>('order_summaries')
        .find({}, { orderBy: 'orderId' });
      const totals = await models
        .collection<CustomerTotal>('customer_totals')
        .find({}, { orderBy: 'customer' });
      return {
        orders: orders.map((o) => [o.orderId, o.customer, o.total, o.status]),
        totals: totals.map((t) => [t.customer, t.orders, t.spent]),
      };
    } finally {
      await eventStore.close();
    }
  }

  it('runs the example: orders projected exactly once, then a blue/green rebuild', async () => {
    const run = await runExample('projections', env);
    expect(run.stderr).not.toMatch(/ERROR|WARN/);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Event store: PGlite at ${dataDir}`);
    expect(run.stdout).toContain('Wrote 10 events for orders 1001, 1002, 1003, 1004, 1005, 1006');
    expect(run.stdout).toMatch(
      /order-summaries: running, generation 1, lag 0, 0 parked, transactional delivery/,
    );
    expect(run.stdout).toContain(
      'Read model customer_totals: ann 120 (2), bob 140 (2), cleo 200 (1), dan 30 (1)',
    );
    expect(run.stdout).toContain('Shipping notifications sent: 3');
    expect(run.stdout).toMatch(/Rebuilt in \d+ ms: generation 1 → 2, swapped/);
    expect(run.stdout).toContain('Read model after the rebuild: the same');
    expect(run.stdout).toContain('Shipping notifications sent during the rebuild: 0 (@SkipOnReplay)');
    expect(await readModels()).toEqual({ orders: EXPECTED_ORDERS, totals: EXPECTED_TOTALS });
  });

  it('lists the projections: idle (the app is stopped), caught up, generations', async () => {
    const { code, stdout, stderr } = await potter(['projections', 'list', '--app', APP], env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^NAME\s+STATE\s+OWNER\s+POSITION\s+LAG\s+PARKED\s+GEN$/);
    expect(rows(stdout)).toEqual([
      ['order-summaries', 'idle', '-', expect.stringMatching(/^\d+:\d+$/), '0', '0', '2'],
      ['customer-totals', 'idle', '-', expect.stringMatching(/^\d+:\d+$/), '0', '0', '1'],
    ]);
  });

  it('shows the status of one projection, as text and as JSON', async () => {
    const text = await potter(['projections', 'status', 'order-summaries', '--app', APP], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^order-summaries\n {2}state: +idle\n/);
    expect(text.stdout).toMatch(/delivery: +transactional \(exactly-once effect\)/);
    expect(text.stdout).toMatch(/owner: +none \(no instance runs it\)/);
    expect(text.stdout).toMatch(/generation: +2/);
    const json = await potter(['projections', 'status', 'customer-totals', '--json', '--app', APP], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      name: 'customer-totals',
      status: 'running',
      activity: 'idle',
      delivery: 'transactional',
      lag: 0,
      parked: 0,
      generation: 1,
    });
  });

  it('rebuilds a projection with progress, runs it itself (no instance does) and exits 0', async () => {
    const { code, stdout, stderr } = await potter(
      ['projections', 'rebuild', 'order-summaries', '--app', APP],
      env,
    );
    expect(stderr).toContain('No instance runs order-summaries: running it here to carry out the rebuild.');
    // stderr is not a TTY here: plain progress lines, the first and the last at least.
    expect(stderr).toContain('rebuild order-summaries: 0/10 events (0%)');
    expect(stderr).toMatch(/rebuild order-summaries: 10\/10 events \(100%\)/);
    expect(stdout).toMatch(
      /^Rebuilt order-summaries: 10 events in \S+; generation 2, position \d+:\d+, lag 0\.\n$/,
    );
    expect(code).toBe(0);
    expect(await readModels()).toEqual({ orders: EXPECTED_ORDERS, totals: EXPECTED_TOTALS });

    const blueGreen = await potter(
      ['projections', 'rebuild', 'order-summaries', '--blue-green', '--app', APP],
      env,
    );
    expect(blueGreen.code).toBe(0);
    expect(blueGreen.stdout).toMatch(/^Rebuilt order-summaries \(blue\/green\): 10 events .*generation 3/);
    expect(await readModels()).toEqual({ orders: EXPECTED_ORDERS, totals: EXPECTED_TOTALS });
  });

  it('resets a projection: replayed from the start, each event applied once', async () => {
    const { code, stdout, stderr } = await potter(
      ['projections', 'reset', 'customer-totals', '--app', APP],
      env,
    );
    expect(stderr).toContain('reset customer-totals: 7/7 events (100%)');
    expect(stdout).toMatch(/^Reset customer-totals: 7 events in \S+; generation 1/);
    expect(code).toBe(0);
    expect((await readModels()).totals).toEqual(EXPECTED_TOTALS);
  });

  it('names the known projections when the name is unknown (exit 1)', async () => {
    for (const command of ['status', 'rebuild']) {
      const { code, stdout, stderr } = await potter(
        ['projections', command, 'order-sumaries', '--app', APP],
        env,
      );
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toBe(
        'potter: No projection named "order-sumaries". Known projections: order-summaries, customer-totals (see `potter projections list`).\n',
      );
    }
  });

  it('finds the app through potter.config.json in the current directory', async () => {
    const cwd = mkdtempSync(join(parent, 'cwd-'));
    writeFileSync(join(cwd, 'potter.config.json'), JSON.stringify({ app: APP, export: 'createApp' }));
    const { code, stdout } = await potter(['projections', 'list'], env, cwd);
    expect(code).toBe(0);
    expect(rows(stdout).map((row) => row[0])).toEqual(['order-summaries', 'customer-totals']);
  });

  it('says how to name the app when there is no --app and no potter.config (exit 2)', async () => {
    const cwd = mkdtempSync(join(parent, 'empty-'));
    const { code, stderr } = await potter(['projections', 'list'], env, cwd);
    expect(code).toBe(2);
    expect(stderr).toContain('potter: No application found: pass --app <file>');
    expect(stderr).toContain('potter.config.json');
  });
});

describe('potter projections on PostgreSQL, next to a running instance of the app', () => {
  const schemas = usePostgresSchemas('e2e_cli');
  let app: PotterApp | undefined;
  let close: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await app?.stop();
    await close?.();
  });

  it('hands rebuild and pause/resume to the running instance, which carries them out', async () => {
    const schema = schemas.schema();
    const env = {
      POTTER_POSTGRES_URL: postgresUrl(),
      POTTER_POSTGRES_SCHEMA: schema,
      POTTER_DATA_DIR: undefined,
    };
    const eventStore = await createPostgresEventStore({ connectionString: postgresUrl(), schema });
    close = () => eventStore.close();
    app = await bootstrap(createAppModule(eventStore), { logger: silentLogger, shutdownSignals: [] });
    for (let i = 1; i <= 20; i++) {
      await app.commandBus.execute(new PlaceOrder(`o-${i}`, `c${i % 3}`, i * 10));
      if (i % 2 === 0) await app.commandBus.execute(new ShipOrder(`o-${i}`, 'dhl'));
    }
    await app.start();
    const engine = app.resolve(ProjectionEngine);
    await engine.waitUntilCaughtUp('order-summaries');
    const owner = engine.instanceId.slice(0, 8);

    const list = await potter(['projections', 'list', '--app', APP], env);
    expect(list.code).toBe(0);
    expect(rows(list.stdout)).toContainEqual([
      'order-summaries',
      'running',
      owner,
      expect.any(String),
      '0',
      '0',
      '1',
    ]);

    const rebuild = await potter(
      ['projections', 'rebuild', 'order-summaries', '--blue-green', '--app', APP],
      env,
    );
    expect(rebuild.stderr).toContain(
      `order-summaries runs on instance ${owner}: it carries out the blue/green rebuild.`,
    );
    expect(rebuild.stderr).toContain('rebuild order-summaries: 0/30 events (0%)');
    expect(rebuild.stdout).toMatch(/^Rebuilt order-summaries \(blue\/green\): 30 events .*generation 2/);
    expect(rebuild.code).toBe(0);
    expect((await engine.status('order-summaries')).generation).toBe(2);
    const summaries = app.resolve(READ_MODELS).collection<OrderSummary>('order_summaries');
    expect(await summaries.count()).toBe(20);
    expect(await summaries.count({ status: 'shipped' })).toBe(10);

    const pause = await potter(['projections', 'pause', 'customer-totals', '--app', APP], env);
    expect(pause.stderr).toContain(`customer-totals runs on instance ${owner}: it carries out the pause.`);
    expect(pause.code).toBe(0);
    expect((await engine.status('customer-totals')).state).toBe('paused');
    const resume = await potter(['projections', 'resume', 'customer-totals', '--app', APP], env);
    expect(resume.code).toBe(0);
    await engine.waitUntilCaughtUp('customer-totals');
    expect((await engine.status('customer-totals')).state).toMatch(/live|catching-up/);
  });
});
