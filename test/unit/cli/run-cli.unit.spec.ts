import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../src/cli/run-cli';
import { recordingIo } from './recording-io';

describe('potter CLI: arguments and usage', () => {
  let empty: string;
  beforeAll(() => {
    empty = mkdtempSync(join(tmpdir(), 'potter-cli-'));
  });
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  const run = async (argv: string[], cwd = empty) => {
    const io = recordingIo(cwd);
    const code = await runCli('potter', argv, io, {
      openApp: () => Promise.reject(new Error('no app in usage tests')),
    });
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  };

  it('prints the version', async () => {
    for (const flag of ['--version', '-v']) {
      const { code, out } = await run([flag]);
      expect(code).toBe(0);
      expect(out).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('prints help with no arguments and with --help, listing the projections command', async () => {
    for (const argv of [[], ['--help'], ['-h']]) {
      const { code, out } = await run(argv);
      expect(code).toBe(0);
      expect(out).toContain('Usage: potter <command> [options]');
      expect(out).toContain('projections');
    }
  });

  it('documents every projections subcommand and how the app is found', async () => {
    const { code, out } = await run(['projections', '--help']);
    expect(code).toBe(0);
    for (const command of ['list', 'status', 'rebuild', 'reset', 'parked', 'retry', 'pause', 'resume']) {
      expect(out).toContain(command);
    }
    expect(out).toContain('potter.config.json');
    expect(out).toContain('Exit codes: 0 done, 1 failed, 2 wrong usage');
    const rebuild = await run(['projections', 'rebuild', '--help']);
    expect(rebuild.out).toContain('--blue-green');
    expect(rebuild.out).toContain('--app <file>');
  });

  it('rejects an unknown command with exit code 2', async () => {
    const { code, err } = await run(['frobnicate']);
    expect(code).toBe(2);
    expect(err).toContain('potter: unknown command "frobnicate"');
    expect(err).toContain('Run `potter --help`');
  });

  it('suggests the closest subcommand', async () => {
    const { code, err } = await run(['projections', 'lst']);
    expect(code).toBe(2);
    expect(err).toContain('potter projections: unknown command "lst"');
    expect(err).toContain('Did you mean list?');
  });

  it('shows help on stderr with exit code 2 when the subcommand is missing', async () => {
    const { code, err } = await run(['projections']);
    expect(code).toBe(2);
    expect(err).toContain('Usage: potter projections <command> [options]');
  });

  it.each([
    [['projections', 'rebuild'], "missing required argument 'name'"],
    [['projections', 'reset'], "missing required argument 'name'"],
    [['projections', 'list', 'extra'], 'too many arguments'],
    [['projections', 'rebuild', 'x', '--timeout', 'soon'], 'expected a positive number of seconds'],
    [['projections', 'rebuild', 'x', '--frob'], 'unknown option "--frob"'],
    [['projections', 'list', '--app'], "option '--app <file>' argument missing"],
  ])('rejects %j with exit code 2', async (argv, message) => {
    const { code, err } = await run(argv);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  it('explains how to name the application when there is neither --app nor potter.config', async () => {
    const io = recordingIo(empty);
    const code = await runCli('potter', ['projections', 'list'], io);
    expect(code).toBe(2);
    const err = io.stderr.join('\n');
    expect(err).toContain('No application found: pass --app <file>');
    expect(err).toContain('potter.config.json');
  });

  it('reports a missing app module with exit code 1 and what to do', async () => {
    const io = recordingIo(empty);
    const code = await runCli('potter', ['projections', 'list', '--app', 'build/nowhere.js'], io);
    expect(code).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/Cannot find .*nowhere\.js \(--app\)\. Build the app first/);
  });

  it('keeps potter-gen and potter-migrate answering --version, --help and unknown commands', async () => {
    for (const program of ['potter-gen', 'potter-migrate'] as const) {
      const version = recordingIo();
      expect(await runCli(program, ['--version'], version)).toBe(0);
      expect(version.stdout[0]).toMatch(/^\d+\.\d+\.\d+/);
      const help = recordingIo();
      expect(await runCli(program, ['--help'], help)).toBe(0);
      expect(help.stdout[0]).toBe(`Usage: ${program} <command> [options]`);
      const unknown = recordingIo();
      expect(await runCli(program, ['frobnicate'], unknown)).toBe(2);
      expect(unknown.stderr[0]).toContain(`${program}: unknown command "frobnicate"`);
    }
  });
});
