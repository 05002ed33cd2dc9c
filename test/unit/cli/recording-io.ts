import type { CliIo } from '../../../src/cli/run-cli';

/** A CliIo that records what the CLI writes (no TTY: progress comes as plain lines). */
export function recordingIo(cwd?: string): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (line) => stdout.push(line), err: (line) => stderr.push(line), cwd };
}
