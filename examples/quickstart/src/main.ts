/**
 * Potter quickstart: a bank account on the in-memory defaults (no database, no broker).
 * Run it with `npm start` from the repository root.
 */
import { ValidationError, bootstrap, describeError, newId, type ExecuteOptions } from 'potter';
import { AccountModule } from './account.module';
import { Deposit } from './commands/deposit.command';
import { OpenAccount } from './commands/open-account.command';
import { Withdraw } from './commands/withdraw.command';
import { InsufficientFundsError } from './insufficient-funds.error';
import { GetBalance } from './queries/get-balance.query';

async function main(): Promise<void> {
  console.log('Potter quickstart: a bank account on in-memory defaults\n');

  // Scans the decorators, validates the module graph and wires the handlers into the buses.
  const app = await bootstrap(AccountModule);
  // Event handlers that still fail after their retries end up here (none should in this demo).
  app.onError((failure) => console.error(`Event handler failed: ${failure.error.message}`));
  await app.start();

  // One correlation id for the whole session, as an HTTP gateway would pass its request id. Without
  // it, each command starts its own chain (its correlation id is its own id).
  const session = newId();
  const options: ExecuteOptions = { metadata: { correlationId: session } };
  console.log(`Session correlation id: ${session}\n`);

  console.log('1. Open an account for Ada Lovelace with 100');
  // TypedCommand<string>: the result is typed `string`.
  const accountId: string = await app.commandBus.execute(new OpenAccount('Ada Lovelace', 100), options);
  console.log(`Account opened: ${accountId}\n`);

  console.log('2. Deposit 50');
  const afterDeposit: number = await app.commandBus.execute(new Deposit(accountId, 50), options);
  console.log(`Deposited 50, balance is now ${afterDeposit}\n`);

  console.log('3. Withdraw 1000, more than the account holds');
  try {
    await app.commandBus.execute(new Withdraw(accountId, 1000), options);
    console.log('Unexpected: the withdrawal went through');
  } catch (error) {
    if (!(error instanceof InsufficientFundsError)) throw error;
    console.log(`Withdrawal refused: ${error.name}: ${error.message}\n`);
  }

  console.log('4. Deposit -20, an invalid amount');
  try {
    await app.commandBus.execute(new Deposit(accountId, -20), options);
    console.log('Unexpected: the deposit went through');
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    // The validation middleware rejects the command before its handler runs.
    console.log(`Deposit rejected: ${error.code} (HTTP ${error.httpStatus})`);
    for (const violation of error.violations) {
      const reasons = Object.values(violation.constraints).join('; ');
      console.log(`  - field "${violation.path}" = ${String(violation.value)}: ${reasons}`);
    }
    console.log();
  }

  console.log('5. Withdraw 30');
  const afterWithdrawal = await app.commandBus.execute(new Withdraw(accountId, 30), options);
  console.log(`Withdrew 30, balance is now ${afterWithdrawal}\n`);

  console.log('6. Query the balance');
  // TypedQuery<number>: the result is typed `number`.
  const balance: number = await app.queryBus.execute(new GetBalance(accountId), options);
  console.log(`Balance of ${accountId}: ${balance}\n`);

  console.log('Topology (paste into https://mermaid.live):');
  console.log(app.topology().toMermaid());
  console.log();

  console.log('Stopping');
  // Drains in-flight handlers, then runs onStop hooks in reverse dependency order.
  await app.stop();
  console.log('Stopped cleanly');
}

main().catch((error: unknown) => {
  console.error(`Quickstart failed: ${describeError(error)}`);
  process.exitCode = 1;
});
