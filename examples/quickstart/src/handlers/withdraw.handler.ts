import { CommandHandler, EventBus, type MessageContext } from 'potter';
import { AccountStore } from '../account-store';
import { Withdraw } from '../commands/withdraw.command';
import { MoneyWithdrawn } from '../events/account.events';
import { InsufficientFundsError } from '../insufficient-funds.error';

@CommandHandler(Withdraw, { emits: [MoneyWithdrawn] })
export class WithdrawHandler {
  constructor(
    private readonly store: AccountStore,
    private readonly events: EventBus,
  ) {}

  async execute(command: Withdraw, context: MessageContext): Promise<number> {
    const account = this.store.get(command.accountId);
    if (command.amount > account.balance) {
      // Thrown to the caller of `commandBus.execute`, unchanged. Withdraw is not idempotent,
      // so the retry middleware never re-runs it.
      throw new InsufficientFundsError(account.id, command.amount, account.balance);
    }
    account.balance -= command.amount;
    console.log(
      `  [command] Withdraw handled: ${command.amount} from ${account.id} (command id ${context.id})`,
    );
    await this.events.publish(new MoneyWithdrawn(account.id, command.amount, account.balance));
    return account.balance;
  }
}
