import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module, silentLogger } from 'potter';
import {
  loadApp,
  locateApp,
  pickExport,
  readConfig,
  toDefinition,
  type AppLocation,
} from '../../../src/cli/app-loader';
import { CliError, UsageError } from '../../../src/cli/cli-io';

@Module({})
class RootModule {}

describe('locating the application', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'potter-locate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes --app relative to the current directory, with --export', () => {
    expect(locateApp({ app: 'build/app.js', export: 'makeIt', cwd: dir })).toEqual({
      file: join(dir, 'build', 'app.js'),
      exportName: 'makeIt',
      from: '--app',
    });
  });

  it('reads potter.config.json, with "app" relative to the config file', () => {
    writeFileSync(
      join(dir, 'potter.config.json'),
      JSON.stringify({ app: 'build/app.js', export: 'createApp' }),
    );
    expect(locateApp({ cwd: dir })).toEqual({
      file: join(dir, 'build', 'app.js'),
      exportName: 'createApp',
      from: join(dir, 'potter.config.json'),
    });
    // --export wins over the config's.
    expect(locateApp({ cwd: dir, export: 'Other' }).exportName).toBe('Other');
  });

  it('prefers potter.config.js, then .cjs, then .json', () => {
    writeFileSync(join(dir, 'potter.config.json'), JSON.stringify({ app: 'json.js' }));
    writeFileSync(join(dir, 'potter.config.cjs'), `module.exports = { app: 'cjs.js' };`);
    expect(locateApp({ cwd: dir }).file).toBe(join(dir, 'cjs.js'));
    writeFileSync(join(dir, 'potter.config.js'), `module.exports = { app: 'js.js', export: 'AppModule' };`);
    expect(locateApp({ cwd: dir })).toMatchObject({ file: join(dir, 'js.js'), exportName: 'AppModule' });
  });

  it('reads an explicit --config from elsewhere', () => {
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'p.json'), JSON.stringify({ app: '../dist/app.js' }));
    expect(locateApp({ cwd: dir, config: 'conf/p.json' }).file).toBe(join(dir, 'dist', 'app.js'));
    expect(() => locateApp({ cwd: dir, config: 'conf/missing.json' })).toThrow(UsageError);
  });

  it('says how to name the app when nothing names it', () => {
    expect(() => locateApp({ cwd: dir })).toThrow(
      /No application found: pass --app <file>.*\n.*potter\.config\.json/,
    );
  });

  it('rejects a config without "app"', () => {
    writeFileSync(join(dir, 'potter.config.json'), JSON.stringify({ module: 'x.js' }));
    expect(() => readConfig(join(dir, 'potter.config.json'))).toThrow(/must hold an object with "app"/);
    writeFileSync(join(dir, 'bad.json'), '{ not json');
    expect(() => readConfig(join(dir, 'bad.json'))).toThrow(/Cannot read .*bad\.json/);
  });
});

describe('taking the export', () => {
  it('uses the named export, else createApp, AppModule or default', () => {
    expect(pickExport({ a: 1, b: 2 }, 'b', 'app.js')).toEqual({ name: 'b', value: 2 });
    expect(pickExport({ AppModule: 1, createApp: 2 }, undefined, 'app.js')).toEqual({
      name: 'createApp',
      value: 2,
    });
    expect(pickExport({ AppModule: 1 }, undefined, 'app.js')).toEqual({ name: 'AppModule', value: 1 });
    expect(pickExport({ default: 3 }, undefined, 'app.js')).toEqual({ name: 'default', value: 3 });
    const factory = (): void => undefined;
    expect(pickExport(factory, undefined, 'app.js')).toEqual({ name: 'module.exports', value: factory });
  });

  it('lists what the module exports when the export is missing', () => {
    expect(() => pickExport({ Foo: 1, Bar: 2 }, 'Baz', 'app.js')).toThrow(
      'app.js has no export "Baz"; it exports Foo, Bar. Pass --export <name>',
    );
    expect(() => pickExport({ Foo: 1 }, undefined, 'app.js')).toThrow(
      'app.js exports none of createApp, AppModule, default (it exports Foo)',
    );
  });

  it('accepts a module class, a definition, and a (async) factory of either', async () => {
    const close = jest.fn();
    expect(await toDefinition(RootModule, 'AppModule', 'app.js')).toEqual({ module: RootModule });
    expect(await toDefinition({ module: RootModule, close }, 'app', 'app.js')).toEqual({
      module: RootModule,
      close,
    });
    expect(await toDefinition(() => RootModule, 'createApp', 'app.js')).toEqual({ module: RootModule });
    expect(await toDefinition(async () => ({ module: RootModule, close }), 'createApp', 'app.js')).toEqual({
      module: RootModule,
      close,
    });
  });

  it('explains what a wrong export gives', async () => {
    class NotAModule {}
    await expect(toDefinition(NotAModule, 'AppModule', 'app.js')).rejects.toThrow(
      /must be a @Module class, \{ module, close\? \}, or a function returning one; it gives the class NotAModule, which is not decorated with @Module/,
    );
    await expect(toDefinition(() => 42, 'createApp', 'app.js')).rejects.toThrow(/it gives number/);
    await expect(
      toDefinition(
        () => {
          throw new Error('no database');
        },
        'createApp',
        'app.js',
      ),
    ).rejects.toThrow('createApp() of app.js failed: Error: no database');
    await expect(toDefinition({ module: RootModule, close: 'x' }, 'app', 'app.js')).rejects.toThrow(
      /"close" of the app definition app in app\.js must be a function/,
    );
  });
});

describe('loading the module file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'potter-load-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const at = (file: string, exportName?: string): AppLocation => ({
    file: join(dir, file),
    exportName,
    from: '--app',
  });

  it('fails clearly on a missing file, a TypeScript file, a module that throws, and a bad export', async () => {
    await expect(loadApp(at('missing.js'), silentLogger)).rejects.toThrow(
      /Cannot find .*missing\.js \(--app\)\. Build the app first/,
    );
    writeFileSync(join(dir, 'app.module.ts'), 'export const x = 1;');
    await expect(loadApp(at('app.module.ts'), silentLogger)).rejects.toThrow(
      /is TypeScript: point to its compiled \.js file/,
    );
    writeFileSync(join(dir, 'throws.js'), `throw new Error('config missing');`);
    await expect(loadApp(at('throws.js'), silentLogger)).rejects.toThrow(
      /Loading .*throws\.js \(--app\) failed: Error: config missing/,
    );
    writeFileSync(join(dir, 'plain.js'), `exports.createApp = () => ({ nothing: true });`);
    const failure = loadApp(at('plain.js'), silentLogger);
    await expect(failure).rejects.toBeInstanceOf(CliError);
    await expect(failure).rejects.toThrow(
      /The export createApp of .*plain\.js \(--app\) must be a @Module class/,
    );
  });
});
