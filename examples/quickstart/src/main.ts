/**
 * Potter quickstart: an event-sourced bank account, its events kept in PGlite (PostgreSQL embedded
 * in the process) under `.potter/quickstart` — so a second run continues where the first stopped.
 * Run it with `npm start` from the repository root.
 */
import {
  EVENT_STORE,
  ValidationError,
  bootstrap,
  describeError,
  newId,
  repositoryToken,
  type ExecuteOptions,
} from 'potter';
import { Account } from './account.aggregate';
import { createAccountModule } from './account.module';
import { commandLog } from './command-log.middleware';
import { Deposit } from './commands/deposit.command';
import { OpenAccount } from './commands/open-account.command';
import { Withdraw } from './commands/withdraw.command';
import { openEventStore } from './event-store';
import { InsufficientFundsError } from './insufficient-funds.error';
import { GetBalance } from './queries/get-balance.query';

const ACCOUNT_ID = 'acc-1';

async function main(): Promise<void> {
  console.log('Potter quickstart: an event-sourced bank account\n');
  const { eventStore, dataDir } = await openEventStore();
  console.log(`Events are kept in PGlite at ${dataDir} (delete it to start over)\n`);

  // Scans the decorators, validates the module graph and wires the handlers into the buses.
  const app = await bootstrap(createAccountModule(eventStore), {
    commandBus: { middleware: [commandLog] },
  });
  // Event handlers that still fail after their retries end up here (none should in this demo).
  app.onError((failure) => console.error(`Event handler failed: ${failure.error.message}`));
  await app.start();

  try {
    // One correlation id for the whole session, as an HTTP gateway would pass its request id.
    // Without it, each command starts its own chain (its correlation id is its own id).
    const session = newId();
    const options: ExecuteOptions = { metadata: { correlationId: session } };
    console.log(`Session correlation id: ${session}\n`);

    // The repository loads an account by folding its stored events.
    const accounts = app.resolve(repositoryToken(Account));
    const existing = await accounts.find(ACCOUNT_ID);
    if (existing) {
      console.log(
        `1. Account ${ACCOUNT_ID} found at version ${existing.version}, balance ${existing.balance}: continuing\n`,
      );
    } else {
      console.log(`1. Open account ${ACCOUNT_ID} for Ada Lovelace with 100`);
      // TypedCommand<string>: the result is typed `string`.
      const opened: string = await app.commandBus.execute(
        new OpenAccount(ACCOUNT_ID, 'Ada Lovelace', 100),
        options,
      );
      console.log(`Account opened: ${opened}\n`);
    }

    console.log('2. Deposit 50');
    const afterDeposit: number = await app.commandBus.execute(new Deposit(ACCOUNT_ID, 50), options);
    console.log(`Deposited 50, balance is now ${afterDeposit}\n`);

    console.log('3. Withdraw 1000, more than the account holds');
    try {
      await app.commandBus.execute(new Withdraw(ACCOUNT_ID, 1000), options);
      console.log('Unexpected: the withdrawal went through');
    } catch (error) {
      if (!(error instanceof InsufficientFundsError)) throw error;
      console.log(`Withdrawal refused: ${error.name}: ${error.message}\n`);
    }

    console.log('4. Deposit -20, an invalid amount');
    try {
      await app.commandBus.execute(new Deposit(ACCOUNT_ID, -20), options);
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
    const afterWithdrawal = await app.commandBus.execute(new Withdraw(ACCOUNT_ID, 30), options);
    console.log(`Withdrew 30, balance is now ${afterWithdrawal}\n`);

    console.log('6. Query the balance');
    // TypedQuery<number>: the result is typed `number`.
    const balance: number = await app.queryBus.execute(new GetBalance(ACCOUNT_ID), options);
    console.log(`Balance of ${ACCOUNT_ID}: ${balance}\n`);

    const streamId = accounts.streamId(ACCOUNT_ID);
    console.log(`7. The account's events (stream ${streamId})`);
    const events = await app.resolve(EVENT_STORE).readStream(streamId);
    for (const event of events) {
      console.log(`  v${event.streamVersion} ${event.type} ${JSON.stringify(event.payload)}`);
    }
    console.log(`Account ${ACCOUNT_ID} is at version ${events.length}\n`);

    console.log('Topology (paste into https://mermaid.live):');
    console.log(app.topology().toMermaid());
    console.log();
  } finally {
    console.log('Stopping');
    // Drains in-flight handlers and runs the onStop hooks; then the store is closed.
    await app.stop();
    await eventStore.close();
  }
  console.log(`Stopped cleanly; the events stay in ${dataDir}: run it again to continue`);
}

main().catch((error: unknown) => {
  console.error(`Quickstart failed: ${describeError(error)}`);
  process.exitCode = 1;
});
