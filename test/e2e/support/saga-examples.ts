import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { postgresUrl, serviceUnavailable } from '../../support/services';
import type { ExampleRun } from './run-example';

/** Where a saga example keeps its sagas in one test: a fresh PGlite directory or PostgreSQL schema. */
export interface SagaExampleBackend {
  readonly name: 'PGlite' | 'PostgreSQL';
  /** The environment of the example's runs. */
  readonly env: Record<string, string | undefined>;
  /** The "Saga store:" line the example prints. */
  readonly storeLine: string | RegExp;
  /** Runs SQL on the PostgreSQL backend (throws on PGlite). */
  query<R extends object>(text: string): Promise<R[]>;
  cleanUp(): Promise<void>;
}

/** A fresh PGlite data directory (`.potter/<example>` in a new temporary directory). */
export function pgliteBackend(example: string): SagaExampleBackend {
  const parent = mkdtempSync(join(tmpdir(), `potter-${example}-`));
  return {
    name: 'PGlite',
    env: { POTTER_DATA_DIR: join(parent, '.potter', example), POTTER_POSTGRES_URL: undefined },
    storeLine: new RegExp(`^Saga store: PGlite at \\S+/\\.potter/${example}$`, 'm'),
    query: () => Promise.reject(new Error('PGlite backend: no SQL access from the test')),
    cleanUp: async () => rmSync(parent, { recursive: true, force: true }),
  };
}

async function withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const url = postgresUrl();
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw serviceUnavailable('PostgreSQL', url, error);
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh schema `e2e_<tag>_<pid>` on the test PostgreSQL (dropped first and by `cleanUp`).
 * PostgreSQL must be up: when it is not, this rejects with how to start it (tests never skip).
 */
export async function postgresBackend(tag: string): Promise<SagaExampleBackend> {
  const schema = `e2e_${tag}_${process.pid}`;
  await withClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  return {
    name: 'PostgreSQL',
    env: { POTTER_POSTGRES_URL: postgresUrl(), POTTER_POSTGRES_SCHEMA: schema, POTTER_DATA_DIR: undefined },
    storeLine: `Saga store: PostgreSQL, schema ${schema}`,
    query: async <R extends object>(text: string) =>
      (await withClient((client) => client.query<R>(text.replaceAll('<schema>', `"${schema}"`)))).rows,
    cleanUp: () =>
      withClient(async (client) => void (await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))),
  };
}

/** Exit 0, nothing on stderr, and the example's last line. */
export function expectCleanExit(run: ExampleRun, lastLine: string): void {
  expect(run.signal).toBeNull();
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout.trimEnd().split('\n').at(-1)).toBe(lastLine);
}

/** The indented service and saga lines (`  [tag] …`) that mention `id`, trimmed. */
export function linesOf(stdout: string, id: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => /^ {2}\[/.test(line) && new RegExp(` ${id}\\b`).test(line))
    .map((line) => line.trim());
}

/** The `[saga]` lines of one saga (by correlation id), without their prefix. */
export function sagaTrace(stdout: string, id: string): string[] {
  const prefix = `[saga] ${id} `;
  return linesOf(stdout, id)
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length));
}
