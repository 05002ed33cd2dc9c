import type { Logger, LogFields } from '../core/logger';

/** Where a CLI writes; injectable for tests. */
export interface CliIo {
  /** Writes one line of results (stdout). */
  out(line: string): void;
  /** Writes one line of diagnostics or progress (stderr). */
  err(line: string): void;
  /**
   * A terminal to draw progress bars on (stderr when it is a TTY). Without one, progress is
   * written as plain lines through {@link CliIo.err}, about once a second.
   */
  progressStream?: NodeJS.WriteStream | undefined;
  /** The directory `potter.config.*` is looked up in and relative paths start from. @default process.cwd() */
  cwd?: string;
}

/** A {@link CliIo} on the real process: stdout, stderr, and a progress bar when stderr is a TTY. */
export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    progressStream: process.stderr.isTTY ? process.stderr : undefined,
    cwd: process.cwd(),
  };
}

/** Exit codes of the CLIs. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * A failure the CLI reports as one message (no stack) and an exit code: 1 by default, 2 for
 * usage errors. The message says what to do about it.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Wrong arguments or missing configuration: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}

/**
 * The logger handed to the application the CLI bootstraps: warnings and errors go to stderr
 * (through `io.err`); info and debug only with `--verbose`.
 */
export function cliLogger(io: CliIo, verbose: boolean): Logger {
  const write = (level: string, message: string, fields?: LogFields): void => {
    const suffix = fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : '';
    io.err(`[${level}] ${message}${suffix}`);
  };
  return {
    debug: (message, fields) => {
      if (verbose) write('debug', message, fields);
    },
    info: (message, fields) => {
      if (verbose) write('info', message, fields);
    },
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

function safeJson(fields: LogFields): string {
  try {
    return JSON.stringify(fields, (_key, value: unknown) =>
      value instanceof Error ? { name: value.name, message: value.message } : value,
    );
  } catch {
    return '{"unserializable":true}';
  }
}
