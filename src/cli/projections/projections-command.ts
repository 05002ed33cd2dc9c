import { InvalidArgumentError, type Command } from 'commander';
import type { PotterApp } from '../../container/potter-app';
import { isPotterError, describeError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { ProjectionEngine } from '../../projections/projection-engine';
import type { LoadedApp } from '../app-loader';
import { CliError, cliLogger, type CliIo } from '../cli-io';
import {
  listProjections,
  rebuildProjection,
  requestAction,
  showParked,
  showStatus,
  type RequestOptions,
} from './projection-actions';

/** The options every `potter projections` command takes to find the application. */
export interface AppOptions {
  app?: string | undefined;
  export?: string | undefined;
  config?: string | undefined;
  cwd: string;
}

/** Opens the application the command works on. */
export type OpenApp = (options: AppOptions, logger: Logger) => Promise<LoadedApp>;

/** What the `projections` command needs from its caller. */
export interface ProjectionsCommandContext {
  io: CliIo;
  openApp: OpenApp;
  /** Records the exit code of the action that ran. */
  setExitCode(code: number): void;
  /** Configures a (sub)command like its parent: output through `io`, errors thrown. */
  configure(command: Command): Command;
}

interface CommonFlags {
  app?: string;
  export?: string;
  config?: string;
  verbose?: boolean;
}

const HELP_AFTER = `
The application: --app <file> names the compiled module that exports it, or potter.config.json
(or .js / .cjs) in the current directory does: { "app": "build/src/app.module.js", "export": "createApp" }.
The export (default: createApp, AppModule or default, whichever exists) is a @Module root class,
{ module, bootstrap?, close? }, or a function returning either (async allowed). The CLI bootstraps
the app but never starts it: its projections run only where the app runs, and here only to carry
out a request that no running instance will (e.g. a rebuild while the app is down).

On PGlite (one process per data directory) run the CLI while the app is stopped; on PostgreSQL it
works next to running instances, which carry out rebuilds, resets, retries, pauses and resumes.

Exit codes: 0 done, 1 failed, 2 wrong usage.`;

/** Adds `projections` and its subcommands to `program`. */
export function addProjectionsCommand(program: Command, context: ProjectionsCommandContext): Command {
  const projections = context.configure(
    program
      .command('projections')
      .description('inspect and operate the projections of an application')
      .usage('<command> [options]')
      .addHelpText('after', HELP_AFTER),
  );

  const leaf = (spec: string, description: string): Command => {
    const command = context.configure(projections.command(spec).description(description));
    return command
      .allowExcessArguments(false)
      .option('--app <file>', 'the compiled module that exports the app (else potter.config.*)')
      .option('--export <name>', 'the export of that module (default: createApp, AppModule or default)')
      .option(
        '--config <file>',
        'a potter.config.{json,js,cjs} file (default: the one in the current directory)',
      )
      .option('--verbose', "show the app's info and debug logs");
  };

  leaf('list', 'a table of every projection: state, owner, position, lag, parked events, generation')
    .option('--json', 'print JSON')
    .action((flags: CommonFlags & { json?: boolean }) =>
      run(context, flags, (engine) => listProjections(engine, context.io, { json: flags.json === true })),
    );

  leaf('status [name]', 'every detail of one projection (or of all)')
    .option('--json', 'print JSON')
    .action((name: string | undefined, flags: CommonFlags & { json?: boolean }) =>
      run(context, flags, (engine) => showStatus(engine, context.io, name, { json: flags.json === true })),
    );

  withRequestOptions(
    leaf('rebuild <name>', 'replay every event into the projection, with a progress bar').option(
      '--blue-green',
      'build a new generation next to the live one and switch readers when it has caught up',
    ),
    'none',
  ).action((name: string, flags: CommonFlags & RequestFlags & { blueGreen?: boolean }) =>
    run(context, flags, (engine) =>
      rebuildProjection(engine, context.io, name, {
        ...requestOptions(flags),
        action: 'rebuild',
        blueGreen: flags.blueGreen === true,
      }),
    ),
  );

  withRequestOptions(
    leaf('reset <name>', "clear the projection's read model and checkpoint, then replay from the start"),
    'none',
  ).action((name: string, flags: CommonFlags & RequestFlags) =>
    run(context, flags, (engine) =>
      rebuildProjection(engine, context.io, name, { ...requestOptions(flags), action: 'reset' }),
    ),
  );

  leaf('parked <name>', 'the events parked by the `park` failure policy, in retry order')
    .option('--stream <id>', 'only those of this stream')
    .option('--json', 'print JSON')
    .action((name: string, flags: CommonFlags & { stream?: string; json?: boolean }) =>
      run(context, flags, (engine) =>
        showParked(engine, context.io, name, { stream: flags.stream, json: flags.json === true }),
      ),
    );

  withRequestOptions(
    leaf('retry <name>', 'handle the parked events again, in order (after fixing the handler)').option(
      '--stream <id>',
      'only those of this stream',
    ),
    '60',
  ).action((name: string, flags: CommonFlags & RequestFlags & { stream?: string }) =>
    run(context, flags, (engine) =>
      requestAction(engine, context.io, name, {
        ...requestOptions(flags),
        action: 'retry',
        stream: flags.stream,
      }),
    ),
  );

  for (const [action, description] of [
    ['pause', 'stop the projection on every instance until it is resumed'],
    ['resume', 'run a paused or faulted projection again from its checkpoint'],
  ] as const) {
    withRequestOptions(leaf(`${action} <name>`, description), '60').action(
      (name: string, flags: CommonFlags & RequestFlags) =>
        run(context, flags, (engine) =>
          requestAction(engine, context.io, name, { ...requestOptions(flags), action }),
        ),
    );
  }
  return projections;
}

interface RequestFlags {
  wait?: boolean;
  timeout?: number;
}

function withRequestOptions(command: Command, defaultTimeout: string): Command {
  return command
    .option('--no-wait', 'record the request and return; the instance running the projection carries it out')
    .option(
      '--timeout <seconds>',
      `give up waiting after this many seconds (default: ${defaultTimeout === 'none' ? 'no limit' : defaultTimeout})`,
      parseSeconds,
    );
}

function requestOptions(flags: RequestFlags): RequestOptions {
  return {
    wait: flags.wait !== false,
    ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout * 1000 } : {}),
  };
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new InvalidArgumentError('expected a positive number of seconds.');
  return seconds;
}

/** Opens the app, runs `work` with its projection engine, and always closes the app. */
async function run(
  context: ProjectionsCommandContext,
  flags: CommonFlags,
  work: (engine: ProjectionEngine) => Promise<number>,
): Promise<void> {
  const { io } = context;
  const logger = cliLogger(io, flags.verbose === true);
  const loaded = await context.openApp(
    { app: flags.app, export: flags.export, config: flags.config, cwd: io.cwd ?? process.cwd() },
    logger,
  );
  let code: number;
  try {
    code = await work(engineOf(loaded.app, loaded.description)).catch(explain);
  } finally {
    try {
      await loaded.close();
    } catch (error) {
      io.err(`[warn] Closing the app failed: ${describeError(error)}`);
    }
  }
  context.setExitCode(code);
}

function engineOf(app: PotterApp, description: string): ProjectionEngine {
  try {
    return app.resolve(ProjectionEngine);
  } catch (error) {
    throw new CliError(
      `${description} has no projection engine (${describeError(error)}): import ProjectionsModule.forRoot({ projections: [...] }) in its root module. (If it does, the app may load another copy of potter than this CLI: run the app's own, npx potter.)`,
    );
  }
}

/** Turns the engine's errors into messages that say what to do. */
function explain(error: unknown): never {
  if (isPotterError(error, 'POTTER_PROJECTION_NOT_FOUND')) {
    const { known, projection } = error.details;
    const names = Array.isArray(known) ? known.map(String) : [];
    throw new CliError(
      names.length > 0
        ? `No projection named "${String(projection)}". Known projections: ${names.join(', ')} (see \`potter projections list\`).`
        : `No projection named "${String(projection)}": the app registers no projections.`,
    );
  }
  throw error;
}
