/**
 * Command dispatch throughput: commands/s of `CommandBus.execute` for a trivial command, side by side
 * in one process — a bare `Map` lookup (the physical limit), @nestjs/cqrs 12, and Potter without and
 * with its default pipeline. Run with `npm run bench`; see bench/RESULTS.md.
 *
 * Method: every variant awaits each `execute` in a sequential loop of BATCH calls (one tinybench
 * iteration); each task runs for the same time budget after a warmup; all tasks run in ROUNDS
 * interleaved rounds (rotating the start task) and the median ops/s over rounds is reported.
 * AsyncLocalStorage is enabled (by one default-pipeline dispatch) before the main rounds, because on
 * Node 20 it turns on promise hooks that slow every promise in the process, baseline included; an
 * optional first phase measures the variants that do not need it before it is ever enabled.
 *
 * @nestjs/cqrs 12 and tinybench 6 are ESM-only and this file compiles to CommonJS, so they are
 * loaded with dynamic `import()` and the Nest classes are declared once the decorators are loaded.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { IsInt, Min } from 'class-validator';
import {
  Command as PotterCommand,
  CommandHandler as PotterCommandHandler,
  Module as PotterModule,
  TypedCommand,
  ValidationError,
  bootstrap,
  silentLogger,
  type CommandBus as PotterCommandBus,
  type PotterApp,
} from 'potter';
import type { ICommandHandler } from '@nestjs/cqrs' with { 'resolution-mode': 'import' };
import type { Bench as TinyBench } from 'tinybench' with { 'resolution-mode': 'import' };

// ---------------------------------------------------------------------------------------------------
// Configuration (environment overrides for quick runs: BENCH_ROUNDS=1 BENCH_TIME_MS=200 …)

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
  return value;
}

/** Interleaved rounds of the main phase; the median over them is reported. */
const ROUNDS = Math.max(1, intFromEnv('BENCH_ROUNDS', 5));
/** Rounds of the supplementary phase measured before AsyncLocalStorage is enabled (0 skips it). */
const PRE_ROUNDS = intFromEnv('BENCH_PRE_ROUNDS', 3);
/** Measured time per task and round, in ms (tinybench `time`). */
const TIME_MS = Math.max(1, intFromEnv('BENCH_TIME_MS', 1000));
/** Warmup time per task and round, in ms (tinybench `warmupTime`). */
const WARMUP_MS = intFromEnv('BENCH_WARMUP_MS', 250);
/** Sequential awaited dispatches per tinybench iteration, so timer overhead is negligible. */
const BATCH = Math.max(1, intFromEnv('BENCH_BATCH', 1000));
/** Comma-separated task ids to run (for profiling one variant), e.g. `BENCH_ONLY=potter-default`. */
const ONLY = new Set((process.env['BENCH_ONLY'] ?? '').split(',').filter((id) => id !== ''));

const TARGET_NO_MIDDLEWARE_VS_BARE = 0.8;
const TARGET_DEFAULT_VS_NEST = 1.2;
/** Measured earlier on this machine type, for orientation only. */
const REFERENCE = { bare: 4.6e6, nest: 2.0e6 };

/** bench/results/, from build/bench/cqrs-dispatch/ where this file runs once compiled. */
const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'cqrs-dispatch.json');

/** Every result is added here so no dispatch can be optimised away. */
let sink = 0;

// ---------------------------------------------------------------------------------------------------
// (a) bare Map dispatch

class BarePing {
  constructor(readonly n: number) {}
}

function createBare(): (cmd: BarePing) => Promise<number> {
  const handler = async (c: BarePing): Promise<number> => c.n;
  const map = new Map<Function, (c: BarePing) => Promise<number>>([[BarePing, handler]]);
  return (cmd) => map.get(cmd.constructor)!(cmd);
}

// ---------------------------------------------------------------------------------------------------
// (c)–(e) Potter

@PotterCommand()
class Ping extends TypedCommand<number> {
  constructor(readonly n: number) {
    super();
  }
}

@PotterCommandHandler(Ping)
class PingHandler {
  execute(c: Ping): number {
    return c.n;
  }
}

/** Same trivial command, but its handler is `async` like the baseline's and Nest's. */
@PotterCommand()
class AsyncPing extends TypedCommand<number> {
  constructor(readonly n: number) {
    super();
  }
}

@PotterCommandHandler(AsyncPing)
class AsyncPingHandler {
  async execute(c: AsyncPing): Promise<number> {
    return c.n;
  }
}

/** A command with class-validator constraints, so the validation middleware runs. */
@PotterCommand()
class ValidatedPing extends TypedCommand<number> {
  @IsInt()
  @Min(0)
  readonly n: number;

  constructor(n: number) {
    super();
    this.n = n;
  }
}

@PotterCommandHandler(ValidatedPing)
class ValidatedPingHandler {
  execute(c: ValidatedPing): number {
    return c.n;
  }
}

@PotterModule({ handlers: [PingHandler, AsyncPingHandler, ValidatedPingHandler] })
class PotterBenchModule {}

async function createPotter(pipeline: 'none' | 'default'): Promise<PotterApp> {
  const app = await bootstrap(PotterBenchModule, {
    logger: silentLogger,
    shutdownSignals: [],
    ...(pipeline === 'none'
      ? { commandBus: { validation: false, retry: false, timeout: false, propagateContext: false } }
      : {}),
  });
  return app.start();
}

// ---------------------------------------------------------------------------------------------------
// (b) @nestjs/cqrs 12

interface NestVariant {
  execute: (n: number) => Promise<number>;
  close: () => Promise<void>;
}

async function createNest(): Promise<NestVariant> {
  const { Module: NestModule } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const {
    Command: NestCommand,
    CommandBus: NestCommandBus,
    CommandHandler: NestCommandHandler,
    CqrsModule,
  } = await import('@nestjs/cqrs');

  class PingCommand extends NestCommand<number> {
    constructor(readonly n: number) {
      super();
    }
  }

  @NestCommandHandler(PingCommand)
  class PingCommandHandler implements ICommandHandler<PingCommand> {
    async execute(c: PingCommand): Promise<number> {
      return c.n;
    }
  }

  @NestModule({ imports: [CqrsModule.forRoot()], providers: [PingCommandHandler] })
  class NestBenchModule {}

  const app = await NestFactory.createApplicationContext(NestBenchModule, { logger: false });
  const bus = app.get(NestCommandBus);
  return { execute: (n) => bus.execute(new PingCommand(n)), close: () => app.close() };
}

// ---------------------------------------------------------------------------------------------------
// Tasks: one explicit loop per variant, so each call site stays monomorphic.

interface TaskSpec {
  id: string;
  name: string;
  /** Runs BATCH sequential, awaited dispatches. */
  fn: () => Promise<void>;
  /** Measured in the supplementary phase, before AsyncLocalStorage is enabled. */
  preAls: boolean;
}

function createTasks(
  bare: (cmd: BarePing) => Promise<number>,
  nest: NestVariant,
  plainBus: PotterCommandBus,
  defaultBus: PotterCommandBus,
): TaskSpec[] {
  return [
    {
      id: 'bare',
      name: '(a) bare Map dispatch (baseline)',
      preAls: true,
      fn: async () => {
        for (let i = 0; i < BATCH; i++) sink += await bare(new BarePing(i));
      },
    },
    {
      id: 'nest',
      name: '(b) @nestjs/cqrs 12 CommandBus',
      preAls: true,
      fn: async () => {
        for (let i = 0; i < BATCH; i++) sink += await nest.execute(i);
      },
    },
    {
      id: 'potter-none',
      name: '(c) potter, no middleware',
      preAls: true,
      fn: async () => {
        for (let i = 0; i < BATCH; i++) sink += await plainBus.execute(new Ping(i));
      },
    },
    {
      id: 'potter-none-async',
      name: '(c′) potter, no middleware, async handler',
      preAls: true,
      fn: async () => {
        for (let i = 0; i < BATCH; i++) sink += await plainBus.execute(new AsyncPing(i));
      },
    },
    {
      id: 'potter-default',
      name: '(d) potter, default pipeline',
      preAls: false,
      fn: async () => {
        for (let i = 0; i < BATCH; i++) sink += await defaultBus.execute(new Ping(i));
      },
    },
    {
      id: 'potter-validated',
      name: '(e) potter, default pipeline + validation',
      preAls: false,
      fn: async () => {
        for (let i = 0; i < BATCH; i++) sink += await defaultBus.execute(new ValidatedPing(i));
      },
    },
  ];
}

/** Checks the variants that do not use AsyncLocalStorage return the right result, before timing. */
async function checkPlainVariants(
  bare: (cmd: BarePing) => Promise<number>,
  nest: NestVariant,
  plainBus: PotterCommandBus,
): Promise<void> {
  const results: [string, number][] = [
    ['bare', await bare(new BarePing(7))],
    ['nest', await nest.execute(7)],
    ['potter-none', await plainBus.execute(new Ping(7))],
    ['potter-none-async', await plainBus.execute(new AsyncPing(7))],
  ];
  for (const [id, value] of results) if (value !== 7) throw new Error(`${id} returned ${value}, expected 7`);
}

/**
 * Checks the default-pipeline variants, and that validation really runs. This is the first
 * `AsyncLocalStorage.run()` of the process: promise hooks stay enabled from here on.
 */
async function checkDefaultVariants(defaultBus: PotterCommandBus): Promise<void> {
  const results: [string, number][] = [
    ['potter-default', await defaultBus.execute(new Ping(7))],
    ['potter-validated', await defaultBus.execute(new ValidatedPing(7))],
  ];
  for (const [id, value] of results) if (value !== 7) throw new Error(`${id} returned ${value}, expected 7`);
  const rejected = await defaultBus.execute(new ValidatedPing(-1)).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(rejected instanceof ValidationError))
    throw new Error('the validation middleware did not reject n = -1');
}

// ---------------------------------------------------------------------------------------------------
// Measurement

interface Sample {
  opsPerSec: number;
  /** Relative margin of error (%) of the iteration latency within the round. */
  rme: number;
}

async function runRound(
  Bench: typeof TinyBench,
  tasks: TaskSpec[],
  round: number,
): Promise<Map<string, Sample>> {
  const bench = new Bench({ time: TIME_MS, warmupTime: WARMUP_MS, throws: true });
  const offset = round % tasks.length;
  const ordered = [...tasks.slice(offset), ...tasks.slice(0, offset)];
  for (const task of ordered) bench.add(task.id, task.fn, { async: true });
  await bench.run();
  const samples = new Map<string, Sample>();
  for (const task of bench.tasks) {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`task ${task.name} ended in state ${result.state}`);
    // period = totalTime / runs (ms per iteration of BATCH dispatches)
    samples.set(task.name, { opsPerSec: (BATCH * 1000) / result.period, rme: result.latency.rme });
  }
  return samples;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface TaskSummary {
  id: string;
  name: string;
  medianOpsPerSec: number;
  roundsOpsPerSec: number[];
  medianRmePercent: number;
  /** Ratio of the medians. */
  ratioVsBare: number | null;
  ratioVsNest: number | null;
  /** Ratio to the reference measured in the same round, per round (cancels slow drift between rounds). */
  roundsRatioVsBare: number[];
  roundsRatioVsNest: number[];
}

async function measure(
  Bench: typeof TinyBench,
  tasks: TaskSpec[],
  rounds: number,
  label: string,
): Promise<TaskSummary[]> {
  const perTask = new Map<string, Sample[]>(tasks.map((t) => [t.id, []]));
  for (let round = 0; round < rounds; round++) {
    const started = Date.now();
    const samples = await runRound(Bench, tasks, round);
    for (const [id, sample] of samples) perTask.get(id)!.push(sample);
    process.stderr.write(`${label}: round ${round + 1}/${rounds} done in ${Date.now() - started} ms\n`);
  }
  const medians = new Map(tasks.map((t) => [t.id, median(perTask.get(t.id)!.map((s) => s.opsPerSec))]));
  const bare = medians.get('bare');
  const nest = medians.get('nest');
  const perRound = (samples: Sample[], reference: Sample[] | undefined): number[] =>
    reference ? samples.map((s, round) => s.opsPerSec / reference[round]!.opsPerSec) : [];
  return tasks.map((t) => {
    const value = medians.get(t.id)!;
    const samples = perTask.get(t.id)!;
    return {
      id: t.id,
      name: t.name,
      medianOpsPerSec: value,
      roundsOpsPerSec: samples.map((s) => Math.round(s.opsPerSec)),
      medianRmePercent: median(samples.map((s) => s.rme)),
      ratioVsBare: bare ? value / bare : null,
      ratioVsNest: nest ? value / nest : null,
      roundsRatioVsBare: perRound(samples, perTask.get('bare')),
      roundsRatioVsNest: perRound(samples, perTask.get('nest')),
    };
  });
}

// ---------------------------------------------------------------------------------------------------
// Report

function formatOps(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function formatRatio(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(2)}×`;
}

function table(rows: TaskSummary[]): string {
  const lines = [
    '| task | median ops/s | ratio vs bare | ratio vs @nestjs/cqrs | spread over rounds (min–max ops/s) |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const min = Math.min(...row.roundsOpsPerSec);
    const max = Math.max(...row.roundsOpsPerSec);
    lines.push(
      `| ${row.name} | ${formatOps(row.medianOpsPerSec)} | ${formatRatio(row.ratioVsBare)} | ${formatRatio(row.ratioVsNest)} | ${formatOps(min)}–${formatOps(max)} |`,
    );
  }
  return lines.join('\n');
}

interface Target {
  description: string;
  /** Ratio of the median ops/s (the verdict). */
  actual: number;
  /** Median over rounds of the ratio within each round (cross-check, robust to drift). */
  pairedMedian: number;
  pairedMin: number;
  pairedMax: number;
  target: number;
  met: boolean;
}

function target(description: string, actual: number, rounds: number[], goal: number): Target {
  return {
    description,
    actual,
    pairedMedian: median(rounds),
    pairedMin: Math.min(...rounds),
    pairedMax: Math.max(...rounds),
    target: goal,
    met: actual >= goal,
  };
}

function targets(main: TaskSummary[]): Target[] {
  const byId = new Map(main.map((row) => [row.id, row]));
  const checks: Target[] = [];
  const none = byId.get('potter-none');
  if (none?.ratioVsBare != null) {
    const description = `(c) potter without middleware ≥ ${TARGET_NO_MIDDLEWARE_VS_BARE}× bare`;
    checks.push(target(description, none.ratioVsBare, none.roundsRatioVsBare, TARGET_NO_MIDDLEWARE_VS_BARE));
  }
  const pipeline = byId.get('potter-default');
  if (pipeline?.ratioVsNest != null) {
    const description = `(d) potter default pipeline ≥ ${TARGET_DEFAULT_VS_NEST}× @nestjs/cqrs`;
    checks.push(
      target(description, pipeline.ratioVsNest, pipeline.roundsRatioVsNest, TARGET_DEFAULT_VS_NEST),
    );
  }
  return checks;
}

/** The commit measured, and whether src/ had uncommitted changes (others edit it concurrently). */
function sourceRevision(): { commit: string; srcDirty: boolean } | null {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { Bench } = await import('tinybench');

  const bare = createBare();
  const nest = await createNest();
  const plainApp = await createPotter('none');
  const defaultApp = await createPotter('default');
  const plainBus = plainApp.commandBus;
  const defaultBus = defaultApp.commandBus;
  const tasks = createTasks(bare, nest, plainBus, defaultBus).filter(
    (t) => ONLY.size === 0 || ONLY.has(t.id),
  );
  if (tasks.length === 0) throw new Error(`BENCH_ONLY matches no task: ${[...ONLY].join(', ')}`);

  await checkPlainVariants(bare, nest, plainBus);

  // Phase 1 (supplementary): before any AsyncLocalStorage.run(), only the variants that never use it.
  const preAlsTasks = tasks.filter((t) => t.preAls);
  const preAls =
    PRE_ROUNDS > 0 && preAlsTasks.length > 0
      ? await measure(Bench, preAlsTasks, PRE_ROUNDS, 'before AsyncLocalStorage')
      : [];

  // The first default-pipeline dispatch enables AsyncLocalStorage (promise hooks) for the rest of the
  // process: the main phase measures every variant in that same regime.
  await checkDefaultVariants(defaultBus);
  const main = await measure(Bench, tasks, ROUNDS, 'main');

  await Promise.all([plainApp.stop(), defaultApp.stop(), nest.close()]);
  if (!Number.isFinite(sink)) throw new Error('unexpected result sum');

  const environment = {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${platform()} ${arch()}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpuCount: cpus().length,
    source: sourceRevision(),
  };
  const config = {
    rounds: ROUNDS,
    preAlsRounds: PRE_ROUNDS,
    timeMs: TIME_MS,
    warmupMs: WARMUP_MS,
    batch: BATCH,
  };
  const checks = targets(main);

  const out: string[] = [
    '## CQRS command dispatch throughput',
    '',
    `- date: ${environment.date}`,
    `- node: ${environment.node} (V8 ${environment.v8}), ${environment.platform}`,
    `- cpu: ${environment.cpu} × ${environment.cpuCount}`,
    `- source: ${environment.source ? `${environment.source.commit.slice(0, 12)}${environment.source.srcDirty ? ' + uncommitted src/ changes' : ''}` : 'unknown'}`,
    `- method: tinybench, ${TIME_MS} ms + ${WARMUP_MS} ms warmup per task and round, ${BATCH} sequential awaited` +
      ` dispatches per iteration, ${ROUNDS} interleaved rounds (start task rotated), median over rounds;` +
      ' AsyncLocalStorage enabled before the rounds (as in any app using the default pipeline)',
    '',
    table(main),
    '',
    '### Targets',
    '',
    ...checks.map(
      (t) =>
        `- **${t.met ? 'met' : 'MISSED'}**: ${t.description} — measured ${t.actual.toFixed(2)}× (target ${t.target}×);` +
        ` same-round ratio: median ${t.pairedMedian.toFixed(2)}×, range ${t.pairedMin.toFixed(2)}–${t.pairedMax.toFixed(2)}×`,
    ),
    `- reference measured earlier on this machine type: bare ≈ ${REFERENCE.bare / 1e6}M/s, @nestjs/cqrs ≈ ${REFERENCE.nest / 1e6}M/s`,
  ];
  if (preAls.length > 0) {
    out.push(
      '',
      `### Supplementary: before AsyncLocalStorage is ever enabled (${PRE_ROUNDS} rounds, same method)`,
      '',
      table(preAls),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);

  if (ONLY.size > 0) {
    process.stderr.write(`BENCH_ONLY is set: ${RESULTS_FILE} left unchanged\n`);
    return;
  }
  mkdirSync(join(RESULTS_FILE, '..'), { recursive: true });
  const json = {
    ...environment,
    config,
    reference: REFERENCE,
    targets: checks,
    tasks: main,
    preAsyncLocalStorage: preAls,
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`results written to ${RESULTS_FILE}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
