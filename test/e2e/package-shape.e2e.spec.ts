import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const node = (args: string[]): string =>
  execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();

interface ExportTarget {
  types: string;
  default: string;
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { import: ExportTarget; require: ExportTarget } | string>;
  bin: Record<string, string>;
  license: string;
  engines: { node: string };
};

describe('the built package', () => {
  it('declares every export with types, for import and require, and the files exist', () => {
    expect(pkg.license).toBe('MIT');
    expect(pkg.engines.node).toBe('>=20');
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      for (const condition of [target.import, target.require]) {
        expect(existsSync(join(root, condition.types))).toBe(true);
        expect(existsSync(join(root, condition.default))).toBe(true);
      }
      expect(subpath === '.' || subpath.startsWith('./')).toBe(true);
    }
  });

  it('works from require and from import, sharing one metadata registry', () => {
    const cjs = node([
      '-e',
      "const p = require('potter'); const t = require('potter/testing'); console.log(typeof p.bootstrap, typeof t.createTestApp)",
    ]);
    expect(cjs).toBe('function function');
    const esm = node([
      '--input-type=module',
      '-e',
      [
        "import { bootstrap, metadataRegistry, Event } from 'potter';",
        "import { createTestApp } from 'potter/testing';",
        "import { createRequire } from 'node:module';",
        'const require = createRequire(import.meta.url);',
        "class Evt {}; Event('shared.evt')(Evt);",
        "const viaRequire = require('potter').metadataRegistry;",
        'console.log(typeof bootstrap, typeof createTestApp, viaRequire === metadataRegistry, viaRequire.getMessage(Evt).typeName);',
      ].join('\n'),
    ]);
    expect(esm).toBe('function function true shared.evt');
  });

  it('ships the three executables', () => {
    expect(Object.keys(pkg.bin).sort()).toEqual(['potter', 'potter-gen', 'potter-migrate']);
    for (const [name, file] of Object.entries(pkg.bin)) {
      expect(node([join(root, file), '--version'])).toMatch(/^\d+\.\d+\.\d+/);
      expect(node([join(root, file), '--help'])).toContain(`Usage: ${name} <command>`);
      const unknown = spawnSync(process.execPath, [join(root, file), 'frobnicate'], { encoding: 'utf8' });
      expect(unknown.status).toBe(2);
      expect(unknown.stderr).toContain(`${name}: unknown command "frobnicate"`);
    }
  });
});
