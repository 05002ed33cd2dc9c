import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The executables Potter ships. */
export type CliProgram = 'potter' | 'potter-gen' | 'potter-migrate';

/** Where a CLI writes; injectable for tests. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const PURPOSE: Record<CliProgram, string> = {
  potter: 'operate a Potter application (projections, sagas, topology)',
  'potter-gen': 'generate TypeScript code from .proto definitions',
  'potter-migrate': 'run versioned database migrations',
};

/** The package version, read from package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Entry point behind `bin/<program>`: parses arguments and returns the exit code. This version has
 * no subcommands yet; it answers `--version` and `--help`, and rejects anything else clearly.
 */
export function runCli(program: CliProgram, argv: readonly string[], io: CliIo): number {
  const [first] = argv;
  if (first === '--version' || first === '-v') {
    io.out(packageVersion());
    return 0;
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
    return 0;
  }
  io.err(`${program}: unknown command "${first}". Run \`${program} --help\` to see what is available.`);
  return 2;
}

/** Runs a program against the real process. */
export function main(program: CliProgram): void {
  process.exitCode = runCli(program, process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}
