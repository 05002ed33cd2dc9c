import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Regression tests of TwoPhaseCoordinator found while putting participants behind a MessageBus
 * (bench/twopc runs 16 transactions at once on one coordinator).
 *
 * Node reports `MaxListenersExceededWarning` on the real `process`, which Jest's sandboxed
 * `process` does not see: the check runs in a child process (the TypeScript source through
 * ts-node, transpile only).
 */
describe('TwoPhaseCoordinator under concurrent transactions', () => {
  it('runs more than 10 participant calls at once (many transactions, or one with 12 participants) without a MaxListenersExceededWarning', () => {
    const root = join(__dirname, '..', '..', '..');
    const script = `
      const { MemoryCoordinatorLog, TwoPhaseCoordinator } = require('./src/twopc');
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.name + ': ' + w.message));
      const slow = (name) => ({
        name,
        prepare: () => new Promise((resolve) => setTimeout(resolve, 5)),
        commit: async () => undefined,
        rollback: async () => undefined,
      });
      const coordinator = new TwoPhaseCoordinator({ log: new MemoryCoordinatorLog(), participants: [slow('a'), slow('b')] });
      const wide = new TwoPhaseCoordinator({
        log: new MemoryCoordinatorLog(),
        participants: Array.from({ length: 12 }, (_, i) => slow('p' + i)),
      });
      Promise.all([
        ...Array.from({ length: 12 }, (_, i) => coordinator.execute({ txId: 't' + i })),
        wide.execute({ txId: 'wide' }), // one transaction with 12 participants
      ])
        .then((results) => new Promise((resolve) => setImmediate(() => resolve(results))))
        .then((results) => {
          process.stdout.write(JSON.stringify({ committed: results.filter((r) => r.outcome === 'committed').length, warnings }));
        });
    `;
    const output = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: root,
      env: { ...process.env, TS_NODE_PROJECT: join(root, 'tsconfig.json') },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { committed, warnings } = JSON.parse(output) as { committed: number; warnings: string[] };
    expect(committed).toBe(13);
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  }, 60_000);
});
