import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** Starts the fixture app, sends `signal` once it is ready, and collects its output and exit. */
function runUntilSignal(signal: NodeJS.Signals): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'sigterm-app.js')], {
      cwd: join(__dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (line === 'ready') child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, lines }));
  });
}

describe('graceful shutdown of a real process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s drains the in-flight command, runs onStop, exits 0',
    async (signal) => {
      const { code, lines } = await runUntilSignal(signal);
      expect(code).toBe(0);
      const relevant = lines.filter((l) => !l.startsWith('[potter] DEBUG'));
      expect(relevant).toEqual([
        'ready',
        `[potter] INFO Received ${signal}: stopping gracefully`,
        'handler finished',
        'command resolved 42',
        'onStop ran',
      ]);
    },
  );
});
