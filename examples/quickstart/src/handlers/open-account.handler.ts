import { CommandHandler, EventBus, type MessageContext } from 'potter';
import { AccountStore } from '../account-store';
import { OpenAccount } from '../commands/open-account.command';
import { AccountOpened } from '../events/account.events';

@CommandHandler(OpenAccount, { emits: [AccountOpened] })
export class OpenAccountHandler {
  constructor(
    private readonly store: AccountStore,
    private readonly events: EventBus,
  ) {}

  async execute(command: OpenAccount, context: MessageContext): Promise<string> {
    const account = this.store.open(command.owner, command.initialDeposit);
    console.log(`  [command] OpenAccount handled: ${account.id} (command id ${context.id})`);
    // Published inside the handler: the event inherits the correlation id, and its causation id is
    // this command's id. `publish` resolves once every event handler has finished.
    await this.events.publish(new AccountOpened(account.id, account.owner, account.balance));
    return account.id;
  }
}
