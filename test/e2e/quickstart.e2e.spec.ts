import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExample, type ExampleRun } from './support/run-example';

/**
 * The quickstart as `npm start` runs it — the compiled example, importing the built package — run
 * twice on one PGlite data directory: the second run continues where the first stopped.
 */
describe('examples/quickstart (npm start)', () => {
  let parent: string;
  let dataDir: string;
  let first: ExampleRun;
  let second: ExampleRun;

  beforeAll(async () => {
    parent = mkdtempSync(join(tmpdir(), 'potter-quickstart-'));
    // Neither `.potter` nor `quickstart` exist yet, as in a fresh clone.
    dataDir = join(parent, '.potter', 'quickstart');
    const env = { POTTER_QUICKSTART_DATA: dataDir };
    first = await runExample('quickstart', env);
    second = await runExample('quickstart', env);
    console.log(`quickstart: first run ${first.ms} ms, second run ${second.ms} ms`);
  }, 180_000);

  afterAll(() => {
    if (parent) rmSync(parent, { recursive: true, force: true });
  });

  /** `[command]` and `[event]` lines of a run. */
  function trace(stdout: string): {
    commands: { type: string; handler: string; id: string }[];
    events: { type: string; accountId: string; correlationId: string; causationId: string }[];
  } {
    const commands = [
      ...stdout.matchAll(/^ {2}\[command\] (\w+) handled by (\S+) \(command id (\S+)\)$/gm),
    ].map((m) => ({ type: m[1]!, handler: m[2]!, id: m[3]! }));
    const events = [
      ...stdout.matchAll(/^ {2}\[event\] (\w+) on (\S+) correlationId=(\S+) causationId=(\S+)$/gm),
    ].map((m) => ({ type: m[1]!, accountId: m[2]!, correlationId: m[3]!, causationId: m[4]! }));
    return { commands, events };
  }

  describe('first run', () => {
    it('exits 0 on its own, without errors or warnings on stderr', () => {
      expect(first.signal).toBeNull();
      expect({ status: first.code, stderr: first.stderr }).toEqual({
        status: 0,
        stderr: expect.not.stringMatching(/ERROR|WARN|failed/i) as unknown,
      });
      expect(first.stdout).toContain(`Events are kept in PGlite at ${dataDir}`);
    });

    it('opens the account and answers with its id (TypedCommand<string>)', () => {
      expect(first.stdout).toContain('1. Open account acc-1 for Ada Lovelace with 100');
      expect(first.stdout).toMatch(/^Account opened: acc-1$/m);
      expect(first.stdout).toContain('Deposited 50, balance is now 150');
    });

    it('refuses to withdraw more than the balance with the domain error', () => {
      expect(first.stdout).toContain(
        'Withdrawal refused: InsufficientFundsError: Account acc-1 holds 150, cannot withdraw 1000.',
      );
    });

    it('rejects an invalid deposit with a ValidationError naming the field', () => {
      expect(first.stdout).toContain('Deposit rejected: POTTER_VALIDATION_FAILED (HTTP 400)');
      expect(first.stdout).toContain('- field "amount" = -20: amount must be a positive number');
    });

    it('queries the balance (TypedQuery<number>)', () => {
      expect(first.stdout).toContain('Withdrew 30, balance is now 120');
      expect(first.stdout).toMatch(/^Balance of acc-1: 120$/m);
    });

    it('logs each event with the session correlation id and the causing command id', () => {
      const session = /^Session correlation id: (\S+)$/m.exec(first.stdout)?.[1];
      expect(session).toBeDefined();
      const { commands, events } = trace(first.stdout);
      // The refused withdrawal and the invalid deposit store and publish nothing.
      expect(commands.map((c) => `${c.type} -> ${c.handler}`)).toEqual([
        'OpenAccount -> OpenAccountHandler.execute',
        'Deposit -> Account.deposit',
        'Withdraw -> Account.withdraw',
      ]);
      expect(events.map((e) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn']);
      for (const [index, event] of events.entries()) {
        expect(event).toEqual({
          type: event.type,
          accountId: 'acc-1',
          correlationId: session,
          causationId: commands[index]!.id,
        });
      }
      expect(new Set(commands.map((c) => c.id)).size).toBe(3);
    });

    it("prints the account's stored events", () => {
      expect(first.stdout).toContain("7. The account's events (stream Account-acc-1)");
      const versions = [...first.stdout.matchAll(/^ {2}v(\d+) (\w+) \{/gm)].map((m) => `${m[1]} ${m[2]}`);
      expect(versions).toEqual(['1 AccountOpened', '2 MoneyDeposited', '3 MoneyWithdrawn']);
      expect(first.stdout).toContain('Account acc-1 is at version 3');
    });

    it('prints the topology as a Mermaid flowchart with declared emits edges', () => {
      expect(first.stdout).toContain('flowchart LR');
      expect(first.stdout).toMatch(/\["OpenAccount"\]:::command/);
      expect(first.stdout).toMatch(/\("GetBalance"\):::query/);
      expect(first.stdout).toMatch(/\{\{"MoneyWithdrawn"\}\}:::event/);
      expect(first.stdout).toMatch(/\[\["Account\.deposit"\]\]:::handler/);
      expect(first.stdout).toMatch(/\[\["AccountActivityLog\.handle"\]\]:::handler/);
      expect(first.stdout.match(/-->\|emits\|/g)).toHaveLength(3);
    });

    it('stops gracefully and keeps the events', () => {
      expect(first.stdout).toContain('Stopping');
      expect(first.stdout.trimEnd()).toMatch(
        /Stopped cleanly; the events stay in .*: run it again to continue$/,
      );
    });
  });

  describe('second run, on the same data directory', () => {
    it('exits 0 without errors or warnings', () => {
      expect(second.signal).toBeNull();
      expect({ status: second.code, stderr: second.stderr }).toEqual({
        status: 0,
        stderr: expect.not.stringMatching(/ERROR|WARN|failed/i) as unknown,
      });
    });

    it('finds the account where the first run left it, instead of opening it again', () => {
      expect(second.stdout).toContain('1. Account acc-1 found at version 3, balance 120: continuing');
      expect(second.stdout).not.toContain('Account opened');
      expect(trace(second.stdout).commands.map((c) => c.type)).toEqual(['Deposit', 'Withdraw']);
    });

    it('continues from the stored balance', () => {
      expect(second.stdout).toContain('Deposited 50, balance is now 170');
      expect(second.stdout).toContain(
        'Withdrawal refused: InsufficientFundsError: Account acc-1 holds 170, cannot withdraw 1000.',
      );
      expect(second.stdout).toContain('Withdrew 30, balance is now 140');
      expect(second.stdout).toMatch(/^Balance of acc-1: 140$/m);
    });

    it('appends to the same stream', () => {
      const versions = [...second.stdout.matchAll(/^ {2}v(\d+) (\w+) \{/gm)].map((m) => `${m[1]} ${m[2]}`);
      expect(versions).toEqual([
        '1 AccountOpened',
        '2 MoneyDeposited',
        '3 MoneyWithdrawn',
        '4 MoneyDeposited',
        '5 MoneyWithdrawn',
      ]);
      expect(second.stdout).toContain('Account acc-1 is at version 5');
    });
  });
});
