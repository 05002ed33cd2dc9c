import { CommandHandler, EventBus, type MessageContext } from 'potter';
import { AccountStore } from '../account-store';
import { Deposit } from '../commands/deposit.command';
import { MoneyDeposited } from '../events/account.events';

@CommandHandler(Deposit, { emits: [MoneyDeposited] })
export class DepositHandler {
  constructor(
    private readonly store: AccountStore,
    private readonly events: EventBus,
  ) {}

  async execute(command: Deposit, context: MessageContext): Promise<number> {
    const account = this.store.get(command.accountId);
    account.balance += command.amount;
    console.log(`  [command] Deposit handled: ${command.amount} on ${account.id} (command id ${context.id})`);
    await this.events.publish(new MoneyDeposited(account.id, command.amount, account.balance));
    return account.balance;
  }
}
