import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { describeError } from '../core/errors';
import { loadApp, locateApp } from './app-loader';
import { CliError, EXIT, processIo, type CliIo } from './cli-io';
import { addProjectionsCommand, type OpenApp } from './projections/projections-command';

export { type CliIo } from './cli-io';

/** The executables Potter ships. */
export type CliProgram = 'potter' | 'potter-gen' | 'potter-migrate';

/** Replaceable parts of the CLI (tests). */
export interface CliDeps {
  /** Opens the application a command works on. @default locateApp (--app / potter.config.*) then loadApp */
  openApp?: OpenApp;
}

const PURPOSE: Record<CliProgram, string> = {
  potter: 'operate a Potter application (projections)',
  'potter-gen': 'generate TypeScript code from .proto definitions',
  'potter-migrate': 'run versioned database migrations',
};

/** The package version, read from the package.json above this file. */
export function packageVersion(): string {
  let dir = __dirname;
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'potter' && pkg.version) return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return '0.0.0';
    dir = parent;
  }
}

/**
 * Entry point behind `bin/<program>`: parses `argv` (the arguments after the program name), runs
 * the command and resolves to the exit code — 0 done, 1 failed, 2 wrong usage. Never throws.
 */
export async function runCli(
  program: CliProgram,
  argv: readonly string[],
  io: CliIo,
  deps: CliDeps = {},
): Promise<number> {
  if (program !== 'potter') return runPlaceholder(program, argv, io);
  let code: number = EXIT.ok;
  const root = createPotterProgram(io, deps, (value) => (code = value));
  try {
    await root.parseAsync(argv.length === 0 ? ['--help'] : [...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      error.message.split('\n').forEach((line, index) => io.err(index === 0 ? `potter: ${line}` : line));
      return error.exitCode;
    }
    io.err(`potter: ${describeError(error)}`);
    return EXIT.failure;
  }
}

/** The `potter` command tree (commander), writing through `io`. */
function createPotterProgram(io: CliIo, deps: CliDeps, setExitCode: (code: number) => void): Command {
  // Commander shares one output configuration between a command and its subcommands: messages
  // name the command being parsed, tracked here.
  let current: Command | undefined;
  const configure = (command: Command): Command =>
    command
      .exitOverride()
      .showSuggestionAfterError(true)
      .helpOption('-h, --help', 'print this help')
      .hook('preSubcommand', (_parent, subcommand) => {
        current = subcommand;
      });
  const root = configure(
    new Command('potter')
      .usage('<command> [options]')
      .description(`potter: ${PURPOSE.potter}.`)
      .version(packageVersion(), '-v, --version', 'print the version'),
  ).configureOutput({
    writeOut: (text) => lines(text).forEach((line) => io.out(line)),
    writeErr: (text) => lines(text).forEach((line) => io.err(line)),
    outputError: (text, write) => write(commanderMessage(commandPath(current ?? root), text)),
  });
  const openApp: OpenApp = deps.openApp ?? ((options, logger) => loadApp(locateApp(options), logger));
  addProjectionsCommand(root, { io, openApp, setExitCode, configure });
  return root;
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current; current = current.parent)
    names.unshift(current.name());
  return names.join(' ');
}

/** `error: unknown command 'x'` → `potter: unknown command "x". Run `potter --help` …`. */
function commanderMessage(path: string, text: string): string {
  const [first = '', ...rest] = text.trimEnd().split('\n');
  const message = first
    .replace(/^error: /, '')
    .replace(/unknown command '([^']*)'/, 'unknown command "$1"')
    .replace(/unknown option '([^']*)'/, 'unknown option "$1"');
  return [
    `${path}: ${message}.`.replace(/\.\.$/, '.'),
    ...rest,
    `Run \`${path} --help\` to see what is available.`,
  ]
    .join('\n')
    .concat('\n');
}

function lines(text: string): string[] {
  return text.replace(/\n$/, '').split('\n');
}

/** `potter-gen` and `potter-migrate`: no commands yet; `--version`, `--help`, and a clear refusal. */
function runPlaceholder(program: CliProgram, argv: readonly string[], io: CliIo): number {
  const [first] = argv;
  if (first === '--version' || first === '-v') {
    io.out(packageVersion());
    return EXIT.ok;
  }
  const usage = [
    `Usage: ${program} <command> [options]`,
    ``,
    `${program}: ${PURPOSE[program]}.`,
    `This version of Potter (${packageVersion()}) has no ${program} commands yet.`,
    ``,
    `Options:`,
    `  -v, --version  print the version`,
    `  -h, --help     print this help`,
  ];
  if (first === undefined || first === '--help' || first === '-h') {
    for (const line of usage) io.out(line);
    return EXIT.ok;
  }
  io.err(`${program}: unknown command "${first}". Run \`${program} --help\` to see what is available.`);
  return EXIT.usage;
}

/**
 * Runs a program against the real process and sets its exit code. If something the app opened
 * keeps the process alive after the command, it exits anyway two seconds later.
 */
export function main(program: CliProgram): void {
  runCli(program, process.argv.slice(2), processIo()).then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (error: unknown) => {
      process.stderr.write(`${program}: ${describeError(error)}\n`);
      process.exit(EXIT.failure);
    },
  );
}
