import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root, where `npm start` runs the examples from. */
export const root = join(__dirname, '..', '..', '..');

/** The compiled entry point of an example, as `npm run build` writes it. */
export function exampleMain(example: string): string {
  return join(root, 'build', 'examples', example, 'src', 'main.js');
}

/** How a run of an example ended. */
export interface ExampleRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock duration of the run. */
  ms: number;
}

/**
 * Runs a built example with `node`, as a user would, with `env` added to (or, for `undefined`
 * values, removed from) this process's environment. Rejects when the example is not built.
 */
export function runExample(
  example: string,
  env: Record<string, string | undefined> = {},
  timeoutMs = 90_000,
): Promise<ExampleRun> {
  const main = exampleMain(example);
  if (!existsSync(main))
    return Promise.reject(new Error(`${main} is missing: run \`npm run build\` first (npm test does).`));
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[name];
    else childEnv[name] = value;
  }
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [main], { cwd: root, env: childEnv, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
}
