/** Log severity, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Port for logging; plug in pino, winston or anything else. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Options of {@link createConsoleLogger}. */
export interface ConsoleLoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  /** Where lines go. @default process.stderr */
  stream?: { write(chunk: string): unknown };
}

/** A logger that writes one line per entry (`level message {json fields}`) to stderr. */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const stream = options.stream ?? process.stderr;
  const write = (level: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields): void => {
    if (LEVELS[level] < threshold) return;
    const suffix = fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : '';
    stream.write(`[potter] ${level.toUpperCase()} ${message}${suffix}\n`);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/** A logger that discards everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function safeJson(fields: LogFields): string {
  try {
    return JSON.stringify(fields, (_key, value: unknown) =>
      value instanceof Error ? { name: value.name, message: value.message } : value,
    );
  } catch {
    return '{"unserializable":true}';
  }
}
