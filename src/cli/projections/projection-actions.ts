import { ProjectionNotFoundError, describeError } from '../../core/errors';
import { START } from '../../eventsourcing/event-store';
import type { ProjectionEngine, ProjectionStatus } from '../../projections/projection-engine';
import type { ProjectionRecord } from '../../projections/projection-store';
import { CliError, EXIT, type CliIo } from '../cli-io';
import {
  describeState,
  duration,
  parkedTable,
  shortOwner,
  shortPosition,
  statusDetails,
  statusTable,
} from './format';
import { createProgress } from './progress';

/** Options of the commands that ask the projection's owner to do something. */
export interface RequestOptions {
  /** Wait until the request is carried out (running the projection here if no instance does). @default true */
  wait?: boolean;
  /** Give up waiting after this many ms. @default Infinity for rebuild/reset, 60000 for the others */
  timeoutMs?: number;
  /** How often to poll the store while waiting, in ms. @default 250 */
  pollMs?: number;
}

/** `potter projections list`: a table of every projection (or JSON). */
export async function listProjections(
  engine: ProjectionEngine,
  io: CliIo,
  options: { json?: boolean },
): Promise<number> {
  const statuses = await engine.statuses();
  if (options.json) {
    io.out(JSON.stringify(statuses.map(withActivity), null, 2));
    return EXIT.ok;
  }
  if (statuses.length === 0) {
    io.out('The app registers no projections.');
    return EXIT.ok;
  }
  for (const line of statusTable(statuses)) io.out(line);
  return EXIT.ok;
}

/** `potter projections status [name]`: every field of one projection, or of all (or JSON). */
export async function showStatus(
  engine: ProjectionEngine,
  io: CliIo,
  name: string | undefined,
  options: { json?: boolean },
): Promise<number> {
  const statuses = name === undefined ? await engine.statuses() : [await engine.status(name)];
  if (options.json) {
    const json = statuses.map(withActivity);
    io.out(JSON.stringify(name === undefined ? json : json[0], null, 2));
    return EXIT.ok;
  }
  statuses.forEach((status, index) => {
    if (index > 0) io.out('');
    for (const line of statusDetails(status)) io.out(line);
  });
  return EXIT.ok;
}

/** `potter projections parked <name> [--stream S]`: the parked events, in retry order. */
export async function showParked(
  engine: ProjectionEngine,
  io: CliIo,
  name: string,
  options: { stream?: string | undefined; json?: boolean },
): Promise<number> {
  const parked = await engine.parked(name, options.stream);
  if (options.json) {
    io.out(JSON.stringify(parked, null, 2));
    return EXIT.ok;
  }
  if (parked.length === 0) {
    io.out(`No parked events for ${name}${options.stream ? ` in stream ${options.stream}` : ''}.`);
    return EXIT.ok;
  }
  for (const line of parkedTable(parked)) io.out(line);
  io.out('');
  io.out(
    `${parked.length} parked event${parked.length === 1 ? '' : 's'}. After fixing the handler: potter projections retry ${name}${options.stream ? ` --stream ${options.stream}` : ''}`,
  );
  return EXIT.ok;
}

/**
 * `potter projections rebuild <name> [--blue-green]` and `reset <name>`: records the request, runs
 * the projection here when no instance runs it, and follows the replay with a progress bar until
 * the projection has caught up.
 */
export async function rebuildProjection(
  engine: ProjectionEngine,
  io: CliIo,
  name: string,
  options: RequestOptions & { action: 'rebuild' | 'reset'; blueGreen?: boolean },
): Promise<number> {
  checkName(engine, name);
  const blueGreen = options.action === 'rebuild' && options.blueGreen === true;
  const before = await engine.store.get(name);
  if (blueGreen && before && before.status !== 'running') {
    throw new CliError(
      `${name} is ${before.status === 'stopped' ? 'paused' : 'faulted'}: a blue/green rebuild builds next to the running projection. Resume it first (potter projections resume ${name}), or rebuild without --blue-green.`,
    );
  }
  const what = blueGreen ? 'blue/green rebuild' : options.action;
  const total0 = await engine.countAfter(name, START);
  if (options.action === 'reset') await engine.reset(name);
  else await engine.rebuild(name, { blueGreen });
  if (options.wait === false) return requested(io, name, what, before);

  const here = new LocalRun(engine, io, name, what);
  const started = Date.now();
  const progress = createProgress(io, { label: `${options.action} ${name}` });
  let total = total0;
  let finished = false;
  const tick = async (): Promise<void> => {
    const record = await engine.store.get(name);
    const owner = liveOwner(record);
    if (!owner) here.ensure();
    if (!record || record.request) {
      if (owner && owner !== engine.instanceId) {
        progress.waiting(`waiting for instance ${shortOwner(owner)} to pick the request up`);
      }
      return;
    }
    const remaining = await engine.countAfter(name, record.shadow ? record.shadow.position : record.position);
    total = Math.max(total, remaining);
    progress.update(total - remaining, total);
  };
  announce(io, name, what, before, here);
  progress.update(0, total);
  const ticker = (async () => {
    while (!finished) {
      await tick().catch((error: unknown) => io.err(`(status poll failed: ${describeError(error)})`));
      await sleep(options.pollMs ?? 250);
    }
  })();
  try {
    await engine.waitUntilCaughtUp(name, { timeoutMs: options.timeoutMs ?? Infinity, intervalMs: 100 });
    finished = true;
    await ticker;
    progress.update(total, total);
    progress.stop();
  } catch (error) {
    finished = true;
    await ticker;
    progress.stop();
    await here.stop();
    throw new CliError(
      `The ${what} of ${name} did not complete: ${error instanceof Error ? error.message : String(error)}\nSee \`potter projections status ${name}\`.`,
    );
  }
  await here.stop();
  const after = await engine.status(name);
  io.out(
    `${options.action === 'reset' ? 'Reset' : 'Rebuilt'} ${name}${blueGreen ? ' (blue/green)' : ''}: ${total} event${total === 1 ? '' : 's'} in ${duration(Date.now() - started)}; generation ${after.generation}, position ${shortPosition(after.position)}, lag ${after.lag ?? '?'}.`,
  );
  return EXIT.ok;
}

/**
 * `retry`, `pause` and `resume`: records the request and waits until the projection's owner (or
 * this process, when no instance runs the projection) has carried it out.
 */
export async function requestAction(
  engine: ProjectionEngine,
  io: CliIo,
  name: string,
  options: RequestOptions & { action: 'retry' | 'pause' | 'resume'; stream?: string | undefined },
): Promise<number> {
  checkName(engine, name);
  const before = await engine.store.get(name);
  const what =
    options.action === 'retry'
      ? `retry of the parked events${options.stream ? ` of ${options.stream}` : ''}`
      : options.action;
  if (options.action === 'retry') await engine.retryParked(name, options.stream);
  else if (options.action === 'pause') await engine.pause(name);
  else await engine.resume(name);
  if (options.wait === false) return requested(io, name, what, before);

  const here = new LocalRun(engine, io, name, what);
  announce(io, name, what, before, here);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  try {
    for (;;) {
      const record = await engine.store.get(name);
      if (record && !record.request) break;
      if (!liveOwner(record)) here.ensure();
      if (Date.now() > deadline) {
        throw new CliError(
          `The ${what} of ${name} is recorded but was not carried out in time (owner: ${liveOwner(record) ?? 'none'}). It stays pending; see \`potter projections status ${name}\`.`,
        );
      }
      await sleep(options.pollMs ?? 250);
    }
  } finally {
    await here.stop();
  }
  const after = await engine.status(name);
  const done = { retry: 'Retried the parked events of', pause: 'Paused', resume: 'Resumed' }[options.action];
  io.out(
    `${done} ${name}${options.action === 'retry' && options.stream ? ` (stream ${options.stream})` : ''}: status ${after.status}, ${after.parked} parked, position ${shortPosition(after.position)}, lag ${after.lag ?? '?'}.`,
  );
  if (after.status === 'faulted' && after.lastError) {
    io.err(
      `${name} is faulted: ${after.lastError.message}. Fix the handler, then: potter projections resume ${name}`,
    );
    return EXIT.failure;
  }
  return EXIT.ok;
}

// -------------------------------------------------------------------------------------------------

/** Runs the one projection in this process, at most once, and stops it at the end. */
class LocalRun {
  #running = false;
  constructor(
    readonly engine: ProjectionEngine,
    readonly io: CliIo,
    readonly name: string,
    readonly what: string,
  ) {}
  ensure(): void {
    if (this.#running) return;
    this.#running = true;
    this.engine.start([this.name]);
  }
  async stop(): Promise<void> {
    if (this.#running) await this.engine.stop();
  }
}

function announce(
  io: CliIo,
  name: string,
  what: string,
  before: ProjectionRecord | undefined,
  here: LocalRun,
): void {
  const owner = liveOwner(before);
  if (owner) io.err(`${name} runs on instance ${shortOwner(owner)}: it carries out the ${what}.`);
  else {
    io.err(`No instance runs ${name}: running it here to carry out the ${what}.`);
    here.ensure();
  }
}

function requested(io: CliIo, name: string, what: string, before: ProjectionRecord | undefined): number {
  const owner = liveOwner(before);
  io.out(
    owner
      ? `Requested the ${what} of ${name}: instance ${shortOwner(owner)} carries it out at its next heartbeat.`
      : `Requested the ${what} of ${name}: no instance runs it now; the next one that starts it carries it out.`,
  );
  return EXIT.ok;
}

/** The status plus `activity`, what the projection does as seen from the store (`state` is this process's view). */
function withActivity(status: ProjectionStatus): ProjectionStatus & { activity: string } {
  return { ...status, activity: describeState(status) };
}

function liveOwner(record: ProjectionRecord | undefined): string | undefined {
  if (!record?.owner || !record.leaseExpiresAt) return undefined;
  return record.leaseExpiresAt.getTime() > Date.now() ? record.owner : undefined;
}

function checkName(engine: ProjectionEngine, name: string): void {
  if (!engine.names.includes(name)) throw new ProjectionNotFoundError(name, engine.names);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
