import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The quickstart as `npm start` runs it: the compiled example, importing the built package. */
const root = join(__dirname, '..', '..');
const main = join(root, 'build', 'examples', 'quickstart', 'src', 'main.js');

describe('examples/quickstart (npm start)', () => {
  let run: SpawnSyncReturns<string>;
  let stdout: string;

  beforeAll(() => {
    if (!existsSync(main))
      throw new Error(`${main} is missing: run \`npm run build\` first (npm test does).`);
    run = spawnSync(process.execPath, [main], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    stdout = run.stdout;
  });

  it('exits 0 on its own, without errors or warnings on stderr', () => {
    expect(run.error).toBeUndefined();
    expect(run.signal).toBeNull();
    expect({ status: run.status, stderr: run.stderr }).toEqual({
      status: 0,
      stderr: expect.not.stringMatching(/ERROR|WARN|failed/i) as unknown,
    });
  });

  it('opens an account and answers with its id (TypedCommand<string>)', () => {
    expect(stdout).toMatch(/^Account opened: acc-1$/m);
    expect(stdout).toContain('Deposited 50, balance is now 150');
  });

  it('refuses to withdraw more than the balance with the domain error', () => {
    expect(stdout).toContain(
      'Withdrawal refused: InsufficientFundsError: Account acc-1 holds 150, cannot withdraw 1000.',
    );
  });

  it('rejects an invalid deposit with a ValidationError naming the field', () => {
    expect(stdout).toContain('Deposit rejected: POTTER_VALIDATION_FAILED (HTTP 400)');
    expect(stdout).toContain('- field "amount" = -20: amount must be a positive number');
  });

  it('queries the balance (TypedQuery<number>)', () => {
    expect(stdout).toContain('Withdrew 30, balance is now 120');
    expect(stdout).toMatch(/^Balance of acc-1: 120$/m);
  });

  it('logs each event with the session correlation id and the causing command id', () => {
    const session = /^Session correlation id: (\S+)$/m.exec(stdout)?.[1];
    expect(session).toBeDefined();
    const commandIds = [...stdout.matchAll(/^ {2}\[command\] (\w+) handled: .*\(command id (\S+)\)$/gm)].map(
      (m) => ({ command: m[1], id: m[2] }),
    );
    const events = [
      ...stdout.matchAll(/^ {2}\[event\] (\w+) on (\S+) correlationId=(\S+) causationId=(\S+)$/gm),
    ].map((m) => ({ type: m[1], accountId: m[2], correlationId: m[3], causationId: m[4] }));

    // The refused withdrawal and the invalid deposit never reach a handler, so they emit nothing.
    expect(commandIds.map((c) => c.command)).toEqual(['OpenAccount', 'Deposit', 'Withdraw']);
    expect(events.map((e) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn']);
    for (const [index, event] of events.entries()) {
      expect(event).toEqual({
        type: event.type,
        accountId: 'acc-1',
        correlationId: session,
        causationId: commandIds[index]!.id,
      });
    }
    expect(new Set(commandIds.map((c) => c.id)).size).toBe(3);
  });

  it('prints the topology as a Mermaid flowchart with declared emits edges', () => {
    expect(stdout).toContain('flowchart LR');
    expect(stdout).toMatch(/\["OpenAccount"\]:::command/);
    expect(stdout).toMatch(/\("GetBalance"\):::query/);
    expect(stdout).toMatch(/\{\{"MoneyWithdrawn"\}\}:::event/);
    expect(stdout).toMatch(/\[\["AccountActivityLog\.handle"\]\]:::handler/);
    expect(stdout.match(/-->\|emits\|/g)).toHaveLength(3);
  });

  it('stops gracefully, running the onStop hook', () => {
    expect(stdout).toContain('AccountStore: closed with 1 account(s)');
    expect(stdout.trimEnd().endsWith('Stopped cleanly')).toBe(true);
  });
});
