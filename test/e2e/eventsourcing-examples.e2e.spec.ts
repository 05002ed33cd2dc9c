import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { postgresUrl, serviceUnavailable } from '../support/services';
import { runExample, type ExampleRun } from './support/run-example';

/**
 * The event-sourcing examples as a user runs them — the built JavaScript, importing the built
 * package — on PGlite (a fresh data directory) and on PostgreSQL (a fresh schema). PostgreSQL must
 * be up (`bash scripts/services/up`): when it is not, these tests fail, they never skip.
 */

interface Backend {
  name: 'PGlite' | 'PostgreSQL';
  /** Prepares a clean store for one example; returns the environment of its runs. */
  prepare(example: string): Promise<Record<string, string | undefined>>;
  /** The "store" line the example prints. */
  storeLine: RegExp;
  cleanUp(): Promise<void>;
}

function pgliteBackend(): Backend {
  const dirs: string[] = [];
  return {
    name: 'PGlite',
    async prepare(example) {
      const parent = mkdtempSync(join(tmpdir(), `potter-${example}-`));
      dirs.push(parent);
      // Neither `.potter` nor `.potter/<example>` exist yet, as in a fresh clone.
      return { POTTER_DATA_DIR: join(parent, '.potter', example), POTTER_POSTGRES_URL: undefined };
    },
    storeLine: /PGlite at \S+\/\.potter\/eventsourcing-\w+/,
    async cleanUp() {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  const url = postgresUrl();
  const schemas: string[] = [];
  const withClient = async <T>(work: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      throw serviceUnavailable('PostgreSQL', url, error);
    }
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  return {
    name: 'PostgreSQL',
    async prepare(example) {
      // Short: the store names its prepared statements after the schema, within PostgreSQL's 63 characters.
      const schema = `e2e_${example.replace(/^eventsourcing-/, '')}_${process.pid}`;
      schemas.push(schema);
      await withClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
      return { POTTER_POSTGRES_URL: url, POTTER_POSTGRES_SCHEMA: schema, POTTER_DATA_DIR: undefined };
    },
    storeLine: /PostgreSQL, schema e2e_(basic|snapshots|replay)_\d+/,
    async cleanUp() {
      if (schemas.length === 0) return;
      await withClient(async (client) => {
        for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      });
    },
  };
}

/** Lines of `stdout` matching `pattern` (with the `m` flag), as match arrays. */
function linesMatching(stdout: string, pattern: RegExp): RegExpMatchArray[] {
  return [...stdout.matchAll(new RegExp(pattern.source, 'gm'))];
}

function expectCleanExit(run: ExampleRun): void {
  expect(run.signal).toBeNull();
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
}

const timings: string[] = [];

describe.each([pgliteBackend(), postgresBackend()])('event-sourcing examples on $name', (backend) => {
  afterAll(() => backend.cleanUp());

  describe('eventsourcing-basic', () => {
    let first: ExampleRun;
    let second: ExampleRun;
    beforeAll(async () => {
      const env = await backend.prepare('eventsourcing-basic');
      first = await runExample('eventsourcing-basic', env);
      second = await runExample('eventsourcing-basic', env);
      timings.push(`eventsourcing-basic on ${backend.name}: ${first.ms} ms, then ${second.ms} ms`);
    }, 180_000);

    it('exits 0 with nothing on stderr, and closes the store', () => {
      expectCleanExit(first);
      expect(first.stdout).toMatch(backend.storeLine);
      expect(first.stdout).toMatch(/^This run's cart: cart-1 \(stream Cart-cart-1\)$/m);
      expect(first.stdout.trimEnd().endsWith('Stopped; event store closed')).toBe(true);
    });

    it('opens the cart with a classic handler and adds items through Cart methods', () => {
      expect(first.stdout).toMatch(/^ {2}\[event\] cart\.opened cart-1: opened for ann$/m);
      expect(first.stdout).toMatch(/^cart-1 holds 4 items$/m);
      expect(first.stdout).toContain('Refused: CartError: Cart cart-1 holds no milk.');
    });

    it('refuses the second of two concurrent saves with ConcurrencyError', () => {
      expect(first.stdout).toContain('writer A loaded v3, writer B loaded v3');
      expect(first.stdout).toContain('writer A saved: cart-1 is at v4');
      expect(first.stdout).toContain(
        'writer B refused: POTTER_CONCURRENCY_CONFLICT (expected v3, stream at v4)',
      );
    });

    it('reruns the unit of work with retryOnConflict, and retries idempotent commands', () => {
      expect(first.stdout).toMatch(
        /attempt 1: loaded v4\n.*another writer.*\n.*\+2 milk.*\n {2}attempt 1: POTTER_CONCURRENCY_CONFLICT, retrying\n {2}attempt 2: loaded v5\n/,
      );
      expect(first.stdout).toMatch(/^Saved at v6$/m);
      expect(first.stdout).toMatch(/^5 of 5 landed: cart-1 is at v11 with 13 items$/m);
    });

    it('checks out, and the event handlers see exactly the committed events', () => {
      expect(first.stdout).toMatch(/^Checked out cart-1: total 42$/m);
      expect(first.stdout).toMatch(/^ {2}\[reaction\] order confirmation for cart-1: total 42$/m);
      const published = linesMatching(first.stdout, /^ {2}\[event\] (\S+) cart-1: (.*)$/).map((m) => m[1]);
      const stored = linesMatching(first.stdout, /^ {2}v(\d+) +(\S+) +\{.*\}$/);
      expect(stored.map((m) => Number(m[1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      // Writer B's refused wine and the conflicting first attempt published nothing.
      expect(published).toEqual(stored.map((m) => m[2]));
      expect(first.stdout.match(/\+1 wine/g)).toHaveLength(1);
      expect(first.stdout).toContain(
        '12 events; loading folds them into cart-1 at v12: checked-out, 13 items, total 42',
      );
    });

    it('continues on a second run with the next cart', () => {
      expectCleanExit(second);
      expect(second.stdout).toMatch(/^This run's cart: cart-2 \(stream Cart-cart-2\)$/m);
      expect(second.stdout).toContain('12 events; loading folds them into cart-2 at v12');
    });
  });

  describe('eventsourcing-snapshots', () => {
    let run: ExampleRun;
    beforeAll(async () => {
      run = await runExample('eventsourcing-snapshots', await backend.prepare('eventsourcing-snapshots'));
      timings.push(`eventsourcing-snapshots on ${backend.name}: ${run.ms} ms`);
    }, 180_000);

    interface Load {
      label: string;
      snapshotVersion: number | undefined;
      folded: number;
      ms: number;
    }
    const num = (text: string): number => Number(text.replace(/,/g, ''));
    const loads = (): Load[] =>
      linesMatching(
        run.stdout,
        /^ {2}(no snapshots|Frequency\(1500\)|TimeBased\(100 ms\)|Hybrid\(\[Frequency\(2000\), TimeBased\(250 ms\)\]\)) +(events only|snapshot v([\d,]+)) +([\d,]+) +([\d.]+) ms$/,
      ).map((m) => ({
        label: m[1]!,
        snapshotVersion: m[3] === undefined ? undefined : num(m[3]),
        folded: num(m[4]!),
        ms: Number(m[5]),
      }));

    it('exits 0 with nothing on stderr, and closes the stores', () => {
      expectCleanExit(run);
      expect(run.stdout).toMatch(backend.storeLine);
      expect(run.stdout.trimEnd().endsWith('Stores closed')).toBe(true);
    });

    it('writes four meters of 5,000 events, snapshotting as each strategy says', () => {
      const written = linesMatching(
        run.stdout,
        /^ {2}([\w-]+-1) +(.+?) +written in +([\d.]+) ms, (\d+) snapshot\(s\)(?:, latest at v([\d,]+))?$/,
      ).map((m) => ({ meter: m[1], snapshots: Number(m[4]), latest: m[5] && num(m[5]) }));
      expect(written.map((w) => w.meter)).toEqual([
        'no-snapshots-1',
        'frequency-1',
        'time-based-1',
        'hybrid-1',
      ]);
      expect(written[0]).toEqual({ meter: 'no-snapshots-1', snapshots: 0, latest: undefined });
      for (const w of written.slice(1)) expect(w.snapshots).toBeGreaterThanOrEqual(1);
      // Frequency(1500) with saves of 200 events: the save that crosses 4,500 (at v4,600) snapshots.
      expect(written[1]!.latest).toBeGreaterThanOrEqual(4_600);
    });

    it('loads each meter from its latest snapshot plus the tail, faster than from all events', () => {
      const measured = loads();
      expect(measured.map((l) => l.label)).toEqual([
        'no snapshots',
        'Frequency(1500)',
        'TimeBased(100 ms)',
        'Hybrid([Frequency(2000), TimeBased(250 ms)])',
      ]);
      expect(measured[0]).toMatchObject({ snapshotVersion: undefined, folded: 5_000 });
      for (const load of measured.slice(1)) {
        expect(load.snapshotVersion).toBeDefined();
        expect(load.folded).toBe(5_000 - load.snapshotVersion!);
        expect(load.ms).toBeGreaterThan(0);
      }
      expect(measured[1]!.folded).toBeLessThanOrEqual(400);
      // Folding 5,000 events against at most 400: a gap far wider than timing noise.
      expect(measured[0]!.ms).toBeGreaterThan(measured[1]!.ms);
    });

    it('gets the same state whichever way a meter is loaded', () => {
      expect(run.stdout).toContain(
        'Every meter loads to the same state: v5,000, 5,000 readings, 34,992 kWh, peak 13 kWh',
      );
    });
  });

  describe('eventsourcing-replay', () => {
    let run: ExampleRun;
    beforeAll(async () => {
      run = await runExample('eventsourcing-replay', await backend.prepare('eventsourcing-replay'));
      timings.push(`eventsourcing-replay on ${backend.name}: ${run.ms} ms`);
    }, 180_000);

    it('exits 0 with nothing on stderr, and closes the store', () => {
      expectCleanExit(run);
      expect(run.stdout).toMatch(backend.storeLine);
      expect(run.stdout).toContain('The log is empty');
      expect(run.stdout).toContain(
        'Wrote 9 events for orders eu-1001, us-1002, eu-1003, us-1004, eu-1005; the log holds 9',
      );
      expect(run.stdout.trimEnd().endsWith('Event store closed')).toBe(true);
    });

    it('(a) replays everything into the read model, reporting progress per batch', () => {
      expect(run.stdout).toContain(
        [
          '(a) Replay everything into a SalesReport read model, in batches of 4',
          '  progress: 4 events, last order.shipped of Order-eu-1001 v2',
          '  progress: 8 events, last order.placed of Order-eu-1005 v1',
          '  progress: 9 events, last order.shipped of Order-eu-1005 v2',
          'Replayed 9 events: 5 orders touched: 5 placed, 3 shipped, 1 cancelled; revenue 460',
        ].join('\n'),
      );
    });

    it("(b) replays one aggregate's stream", () => {
      expect(run.stdout).toContain(
        [
          "(b) Replay one aggregate's stream: Order-eu-1001",
          '  v1 order.placed    {"orderId":"eu-1001","customer":"ann","total":120}',
          '  v2 order.shipped   {"orderId":"eu-1001","carrier":"dhl"}',
          'Replayed 2 events of Order-eu-1001',
        ].join('\n'),
      );
    });

    it('(c) replays a filtered set: event types with a stream prefix, and a position range', () => {
      expect(run.stdout).toContain(
        'Replayed 3 events: EU orders placed eu-1001, eu-1003, eu-1005, worth 225',
      );
      const range = /^ {2}after (\S+)\n {2}until (\S+)$/m.exec(run.stdout);
      expect(range).not.toBeNull();
      expect(range![1]! < range![2]!).toBe(true);
      expect(run.stdout).toContain(
        [
          '  progress: 5 events, last order.shipped of Order-eu-1005 v2',
          'Replayed 5 events: 4 orders touched: 2 placed, 2 shipped, 1 cancelled; revenue 215',
        ].join('\n'),
      );
    });
  });
});

afterAll(() => {
  // Durations, for the record (npm test prints them with the results).
  if (timings.length > 0) console.log(timings.join('\n'));
});
