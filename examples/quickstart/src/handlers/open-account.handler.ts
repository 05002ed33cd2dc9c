import { AggregateRepository, CommandHandler, InjectRepository } from 'potter';
import { Account } from '../account.aggregate';
import { OpenAccount } from '../commands/open-account.command';
import { AccountOpened } from '../events/account.events';

/** A classic command handler: it creates the aggregate and saves it through its repository. */
@CommandHandler(OpenAccount, { emits: [AccountOpened] })
export class OpenAccountHandler {
  constructor(@InjectRepository(Account) private readonly accounts: AggregateRepository<Account>) {}

  async execute(command: OpenAccount): Promise<string> {
    const account = this.accounts.create(command.accountId); // new, at version 0
    account.open(command.owner, command.initialDeposit);
    // Appends with expected version 0: if the account exists already, this raises ConcurrencyError.
    // After the commit the repository publishes AccountOpened on the event bus, inside this
    // command's context, so the event's causation id is this command's id.
    await this.accounts.save(account);
    return account.id;
  }
}
