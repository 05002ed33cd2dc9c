import {
  Event,
  EventHandler,
  MemoryEventStore,
  MemoryProjectionStore,
  MemoryReadModelStore,
  Module,
  Projection,
  ProjectionsModule,
  bootstrap,
  type ProjectionContext,
} from 'potter';
import { runCli, type CliDeps } from '../../../src/cli/run-cli';
import { recordingIo } from './recording-io';

@Event('cli.Counted')
class Counted {
  constructor(
    readonly counter: string,
    readonly by: number,
  ) {}
}

/** Additive: a double-applied or missing event shows in the totals. */
@Projection('cli-counters', { batchSize: 7, onError: 'park', retry: { maxAttempts: 1 } })
class Counters {
  static poison = new Set<number>();
  @EventHandler(Counted)
  async onCounted(event: Counted, ctx: ProjectionContext): Promise<void> {
    if (Counters.poison.has(event.by)) throw new Error(`cannot count ${event.by}`);
    await ctx.readModel<{ total: number; count: number }>('cli_counters').update(event.counter, (doc) => ({
      total: (doc?.total ?? 0) + event.by,
      count: (doc?.count ?? 0) + 1,
    }));
  }
}

@Projection('cli-audit')
class Audit {
  @EventHandler(Counted)
  async onCounted(_event: Counted, ctx: ProjectionContext): Promise<void> {
    await ctx.readModel('cli_audit').put(ctx.event.id, { type: ctx.event.type });
  }
}

@Projection('cli-broken', { retry: { maxAttempts: 1 } })
class Broken {
  @EventHandler(Counted)
  onCounted(): void {
    throw new Error('broken handler');
  }
}

/** One in-memory "deployment": the stores outlive each CLI run, as a database would. */
function memoryDeployment(projections: (new () => object)[] = [Counters, Audit]) {
  const eventStore = new MemoryEventStore();
  const store = new MemoryProjectionStore();
  const readModels = new MemoryReadModelStore();
  @Module({
    imports: [
      ProjectionsModule.forRoot({
        projections,
        eventStore,
        store,
        readModels,
        leaseTtlMs: 300,
        pollIntervalMs: 10,
        reportIntervalMs: 0,
      }),
    ],
  })
  class AppModule {}
  const deps: CliDeps = {
    openApp: async (_options, logger) => {
      const app = await bootstrap(AppModule, { logger, shutdownSignals: [] });
      return { app, description: 'the test app', close: () => app.stop() };
    },
  };
  const cli = async (...argv: string[]) => {
    const io = recordingIo();
    const code = await runCli('potter', ['projections', ...argv], io, deps);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  };
  const count = (counter: string, ...by: number[]) =>
    eventStore.appendToStream(
      `Counter-${counter}`,
      by.map((n) => ({ type: 'cli.Counted', payload: { counter, by: n } })),
    );
  const totals = async () =>
    Object.fromEntries(
      (
        await readModels
          .collection<{ total: number; count: number }>('cli_counters')
          .find({}, { orderBy: 'total' })
      ).map((doc) => [doc.total, doc.count]),
    );
  return { cli, count, totals, readModels, store, AppModule };
}

describe('potter projections (in-memory app)', () => {
  beforeEach(() => Counters.poison.clear());

  it('lists the projections, idle and never run', async () => {
    const { cli, count } = memoryDeployment();
    await count('a', 1, 2, 3);
    const { code, out } = await cli('list');
    expect(code).toBe(0);
    const [header, ...rows] = out.split('\n');
    expect(header).toMatch(/^NAME\s+STATE\s+OWNER\s+POSITION\s+LAG\s+PARKED\s+GEN$/);
    expect(rows.map((row) => row.split(/\s+/))).toEqual([
      ['cli-counters', 'idle', '-', 'start', '3', '0', '1'],
      ['cli-audit', 'idle', '-', 'start', '3', '0', '1'],
    ]);
  });

  it('rebuilds a projection that no instance runs: runs it here, shows progress, exits 0', async () => {
    const { cli, count, totals } = memoryDeployment();
    for (let i = 0; i < 10; i++) await count(`c${i}`, ...Array.from({ length: 5 }, (_, k) => i * 10 + k));
    const { code, out, err } = await cli('rebuild', 'cli-counters');
    expect(err).toContain('No instance runs cli-counters: running it here to carry out the rebuild.');
    expect(err).toMatch(/rebuild cli-counters: \d+\/50 events \(\d+%\)/);
    expect(err).toContain('rebuild cli-counters: 50/50 events (100%)');
    expect(out).toMatch(/^Rebuilt cli-counters: 50 events in \S+; generation 1, position \S+, lag 0\.$/);
    expect(code).toBe(0);
    const expected: Record<number, number> = {};
    for (let i = 0; i < 10; i++) expected[i * 50 + 10] = 5;
    expect(await totals()).toEqual(expected);

    // Blue/green: a new generation, the same read model, each event applied once.
    const blueGreen = await cli('rebuild', 'cli-counters', '--blue-green');
    expect(blueGreen.code).toBe(0);
    expect(blueGreen.out).toMatch(/^Rebuilt cli-counters \(blue\/green\): 50 events .*generation 2/);
    expect(await totals()).toEqual(expected);

    // Reset: back to the start of the same generation.
    const reset = await cli('reset', 'cli-counters');
    expect(reset.code).toBe(0);
    expect(reset.out).toMatch(/^Reset cli-counters: 50 events .*generation 2/);
    expect(await totals()).toEqual(expected);

    const status = await cli('status', 'cli-counters');
    expect(status.code).toBe(0);
    expect(status.out).toContain('cli-counters\n  state:');
    expect(status.out).toMatch(/lag:\s+0 events/);
    expect(status.out).toMatch(/generation:\s+2/);
    const json = await cli('status', 'cli-counters', '--json');
    expect(JSON.parse(json.out)).toMatchObject({ name: 'cli-counters', generation: 2, lag: 0, parked: 0 });
  });

  it('names the known projections for an unknown name, with exit code 1', async () => {
    const { cli } = memoryDeployment();
    for (const argv of [
      ['status', 'nope'],
      ['rebuild', 'nope'],
      ['parked', 'nope'],
      ['pause', 'nope'],
    ]) {
      const { code, err } = await cli(...argv);
      expect(code).toBe(1);
      expect(err).toContain('No projection named "nope". Known projections: cli-counters, cli-audit');
    }
  });

  it('lists parked events, retries them after the fix, pauses and resumes', async () => {
    const { cli, count, totals } = memoryDeployment();
    Counters.poison.add(13);
    await count('a', 1, 13, 2);
    await count('b', 5);
    const first = await cli('reset', 'cli-counters');
    expect(first.code).toBe(0);
    const parked = await cli('parked', 'cli-counters');
    expect(parked.code).toBe(0);
    expect(parked.out).toMatch(/^SEQ\s+STREAM\s+VERSION\s+TYPE/);
    expect(parked.out).toMatch(/Counter-a\s+2\s+cli\.Counted/);
    expect(parked.out).toMatch(/Counter-a\s+3\s+cli\.Counted/);
    expect(parked.out).toContain(
      '2 parked events. After fixing the handler: potter projections retry cli-counters',
    );
    expect(await totals()).toEqual({ 1: 1, 5: 1 });
    expect((await cli('parked', 'cli-counters', '--stream', 'Counter-b')).out).toBe(
      'No parked events for cli-counters in stream Counter-b.',
    );

    Counters.poison.clear();
    const retry = await cli('retry', 'cli-counters');
    expect(retry.code).toBe(0);
    expect(retry.out).toMatch(/^Retried the parked events of cli-counters: status running, 0 parked/);
    expect(await totals()).toEqual({ 16: 3, 5: 1 });

    const pause = await cli('pause', 'cli-counters');
    expect(pause.code).toBe(0);
    expect(pause.out).toMatch(/^Paused cli-counters: status stopped/);
    expect((await cli('list')).out).toMatch(/cli-counters\s+paused/);
    const blueGreen = await cli('rebuild', 'cli-counters', '--blue-green');
    expect(blueGreen.code).toBe(1);
    expect(blueGreen.err).toContain(
      'cli-counters is paused: a blue/green rebuild builds next to the running projection',
    );
    const resume = await cli('resume', 'cli-counters');
    expect(resume.code).toBe(0);
    expect(resume.out).toMatch(/^Resumed cli-counters: status running/);
  });

  it('records a request without waiting with --no-wait', async () => {
    const { cli, store } = memoryDeployment();
    const { code, out } = await cli('pause', 'cli-audit', '--no-wait');
    expect(code).toBe(0);
    expect(out).toBe(
      'Requested the pause of cli-audit: no instance runs it now; the next one that starts it carries it out.',
    );
    expect((await store.get('cli-audit'))?.request?.action).toBe('stop');
    expect((await cli('list')).out).toMatch(/cli-audit\s+pending stop/);
  });

  it('reports a rebuild that faults with exit code 1 and the error', async () => {
    const { cli, count } = memoryDeployment([Counters, Broken]);
    await count('a', 1, 2);
    const { code, err } = await cli('rebuild', 'cli-broken');
    expect(code).toBe(1);
    expect(err).toMatch(
      /potter: The rebuild of cli-broken did not complete: Projection cli-broken is faulted at cli\.Counted .*broken handler/,
    );
    expect(err).toContain('See `potter projections status cli-broken`.');
    expect((await cli('list')).out).toMatch(/cli-broken\s+faulted/);
  });
});
