import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootstrap, type BootstrapOptions } from '../container/bootstrap';
import type { PotterApp } from '../container/potter-app';
import { describeError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { Constructor } from '../core/types';
import { metadataRegistry } from '../metadata/metadata-registry';
import { CliError, UsageError } from './cli-io';

/** Config files looked up, in this order, in the current directory. */
export const CONFIG_FILES = ['potter.config.js', 'potter.config.cjs', 'potter.config.json'] as const;

/** Exports tried, in this order, when neither `--export` nor the config names one. */
export const DEFAULT_EXPORTS = ['createApp', 'AppModule', 'default'] as const;

/**
 * What `potter.config.json` (or `.js` / `.cjs`, exporting the same object) holds:
 * `{ "app": "build/src/app.module.js", "export": "createApp" }`. `app` is relative to the config
 * file's directory.
 */
export interface PotterConfig {
  /** The compiled module (JavaScript) that exports the application. */
  app: string;
  /** The export to use. @default the first of `createApp`, `AppModule`, `default` that exists */
  export?: string;
}

/**
 * An application as its module file may export it for the CLI (under `export`):
 * - a `@Module` root class — bootstrapped as is;
 * - a definition `{ module, bootstrap?, close? }` — `close` releases what the module file opened
 *   (an event store, a pool) after the app stops;
 * - a function (sync or async, no arguments) returning either of those — the usual choice when the
 *   module needs an async resource, such as an event store, created first.
 *
 * The CLI bootstraps the app (its `onInit` hooks run) but never calls `app.start()`: no `onStart`
 * hook runs, so the app's projections, consumers and servers stay off while the CLI inspects them.
 */
export type PotterAppExport = Constructor | PotterAppDefinition | (() => AppFactoryResult);

/** What an app factory returns (or resolves to). */
export type AppFactoryResult = Constructor | PotterAppDefinition | Promise<Constructor | PotterAppDefinition>;

/** A root module plus how to bootstrap it and what to close afterwards. */
export interface PotterAppDefinition {
  /** The `@Module` root class. */
  module: Constructor;
  /** Bootstrap options (the CLI sets its own logger and turns signal handling off). */
  bootstrap?: BootstrapOptions;
  /** Called after `app.stop()`: close what the module file opened. */
  close?: () => Promise<void> | void;
}

/** Where the application comes from. */
export interface AppLocation {
  /** Absolute path of the module file. */
  file: string;
  /** The export named by `--export` or the config, if any. */
  exportName: string | undefined;
  /** `--app`, or the path of the config file that named it (for messages). */
  from: string;
}

/** Options of {@link locateApp}: the command-line options that name the application. */
export interface LocateAppOptions {
  app?: string | undefined;
  export?: string | undefined;
  /** An explicit config file (instead of looking for `potter.config.*` in `cwd`). */
  config?: string | undefined;
  cwd: string;
}

/** A bootstrapped (never started) application and how to release it. */
export interface LoadedApp {
  app: PotterApp;
  /** A short description of where it came from, for messages. */
  description: string;
  /** Stops the app (its `onStop` hooks) and runs the definition's `close`. */
  close(): Promise<void>;
}

const nodeRequire = createRequire(__filename);

/** How to name an application; printed when none is found. */
export function noAppHelp(cwd: string): string {
  return [
    `No application found: pass --app <file> (the compiled JavaScript module that exports your app),`,
    `or write potter.config.json in ${cwd}:`,
    `  { "app": "build/src/app.module.js", "export": "createApp" }`,
    `The export is a @Module class, { module, close }, or a function returning either (see \`potter projections --help\`).`,
  ].join('\n');
}

/** Finds the application's module file from `--app`, `--config` or a `potter.config.*` in `cwd`. */
export function locateApp(options: LocateAppOptions): AppLocation {
  const { cwd } = options;
  if (options.app) {
    return { file: resolve(cwd, options.app), exportName: options.export || undefined, from: '--app' };
  }
  let configFile: string | undefined;
  if (options.config) {
    configFile = resolve(cwd, options.config);
    if (!existsSync(configFile))
      throw new UsageError(`The config file ${configFile} (--config) does not exist.`);
  } else {
    configFile = CONFIG_FILES.map((name) => join(cwd, name)).find((file) => existsSync(file));
  }
  if (!configFile) throw new UsageError(noAppHelp(cwd));
  const config = readConfig(configFile);
  return {
    file: resolve(dirname(configFile), config.app),
    exportName: options.export || config.export || undefined,
    from: configFile,
  };
}

/** Reads and checks a `potter.config.{js,cjs,json}` file. */
export function readConfig(file: string): PotterConfig {
  let value: unknown;
  try {
    value = nodeRequire(file);
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${describeError(error)}`);
  }
  if (isRecord(value) && !('app' in value) && isRecord(value.default)) value = value.default;
  if (!isRecord(value) || typeof value.app !== 'string' || value.app === '') {
    throw new UsageError(
      `${file} must hold an object with "app", the path of the compiled module that exports your app, e.g. { "app": "build/src/app.module.js", "export": "createApp" }.`,
    );
  }
  if (value.export !== undefined && typeof value.export !== 'string') {
    throw new UsageError(`${file}: "export" must be the name of an export of ${value.app}.`);
  }
  return { app: value.app, ...(typeof value.export === 'string' ? { export: value.export } : {}) };
}

/**
 * Loads the module file, takes its application export and bootstraps it — without starting it —
 * with `logger`. Errors say what to fix.
 */
export async function loadApp(location: AppLocation, logger: Logger): Promise<LoadedApp> {
  const where = describeLocation(location);
  const moduleExports = await importModule(location.file, where);
  const { name, value } = pickExport(moduleExports, location.exportName, where);
  const definition = await toDefinition(value, name, where);
  let app: PotterApp;
  try {
    app = await bootstrap(definition.module, {
      ...definition.bootstrap,
      logger,
      shutdownSignals: [],
      exitOnSignal: false,
    });
  } catch (error) {
    await definition.close?.();
    throw new CliError(
      `Bootstrapping ${definition.module.name} from ${where} failed: ${describeError(error)}`,
    );
  }
  return {
    app,
    description: `${definition.module.name} from ${where}`,
    close: async () => {
      try {
        await app.stop();
      } finally {
        await definition.close?.();
      }
    },
  };
}

/**
 * The export to use: `name` when given, else the first of {@link DEFAULT_EXPORTS} present (or the
 * module itself when it is a function, `module.exports = createApp`).
 */
export function pickExport(
  moduleExports: unknown,
  name: string | undefined,
  where: string,
): { name: string; value: unknown } {
  const record =
    isRecord(moduleExports) || typeof moduleExports === 'function'
      ? (moduleExports as Record<string, unknown>)
      : {};
  const available = Object.keys(record).filter((key) => key !== '__esModule');
  if (name) {
    if (record[name] !== undefined) return { name, value: record[name] };
    throw new CliError(
      `${where} has no export "${name}"${available.length ? `; it exports ${available.join(', ')}` : ''}. Pass --export <name> or set "export" in potter.config.json.`,
    );
  }
  for (const candidate of DEFAULT_EXPORTS) {
    if (record[candidate] !== undefined) return { name: candidate, value: record[candidate] };
  }
  if (typeof moduleExports === 'function') return { name: 'module.exports', value: moduleExports };
  throw new CliError(
    `${where} exports none of ${DEFAULT_EXPORTS.join(', ')}${available.length ? ` (it exports ${available.join(', ')})` : ''}: pass --export <name> or set "export" in potter.config.json.`,
  );
}

/** Turns an export (module class, definition, or factory) into a definition. */
export async function toDefinition(
  value: unknown,
  name: string,
  where: string,
): Promise<PotterAppDefinition> {
  const resolved = await fromFactory(value, name, where);
  if (isModuleClass(resolved)) return { module: resolved };
  if (isRecord(resolved) && isModuleClass(resolved.module)) {
    if (resolved.close !== undefined && typeof resolved.close !== 'function') {
      throw new CliError(`"close" of the app definition ${name} in ${where} must be a function.`);
    }
    return resolved as unknown as PotterAppDefinition;
  }
  const shape =
    typeof resolved === 'function'
      ? `the class ${resolved.name || '(anonymous)'}, which is not decorated with @Module (or is decorated by another copy of potter than this CLI's: run the CLI of the app's own install, npx potter)`
      : typeof resolved;
  throw new CliError(
    `The export ${name} of ${where} must be a @Module class, { module, close? }, or a function returning one; it gives ${shape}.`,
  );
}

async function fromFactory(value: unknown, name: string, where: string): Promise<unknown> {
  if (typeof value !== 'function' || isModuleClass(value) || isClass(value)) return value;
  try {
    return await (value as () => unknown)();
  } catch (error) {
    throw new CliError(`${name}() of ${where} failed: ${describeError(error)}`);
  }
}

async function importModule(file: string, where: string): Promise<unknown> {
  if (!existsSync(file)) {
    throw new CliError(
      `Cannot find ${where}. Build the app first (for example \`npm run build\`) or fix the path: it must be the compiled JavaScript module.`,
    );
  }
  const extension = extname(file);
  if (['.ts', '.mts', '.cts'].includes(extension) && !(extension in nodeRequire.extensions)) {
    throw new CliError(
      `${where} is TypeScript: point to its compiled .js file, or run the CLI with a TypeScript loader (node -r ts-node/register node_modules/potter/bin/potter.js …).`,
    );
  }
  try {
    if (extension === '.mjs') return await import(pathToFileURL(file).href);
    try {
      return nodeRequire(file);
    } catch (error) {
      if (isRecord(error) && error.code === 'ERR_REQUIRE_ESM') return await import(pathToFileURL(file).href);
      throw error;
    }
  } catch (error) {
    throw new CliError(`Loading ${where} failed: ${describeError(error)}`);
  }
}

function describeLocation(location: AppLocation): string {
  const shown = relative(process.cwd(), location.file) || basename(location.file);
  const path = shown.startsWith('..') ? location.file : shown;
  return location.from === '--app' ? `${path} (--app)` : `${path} (named by ${location.from})`;
}

function isModuleClass(value: unknown): value is Constructor {
  return typeof value === 'function' && metadataRegistry.getModule(value) !== undefined;
}

function isClass(value: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(value));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
