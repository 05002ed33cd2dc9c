import { EventSourcingModule, Module, type Constructor, type EventStore } from 'potter';
import { Account } from './account.aggregate';
import { AccountActivityLog } from './handlers/account-activity.handler';
import { GetBalanceHandler } from './handlers/get-balance.handler';
import { OpenAccountHandler } from './handlers/open-account.handler';

/**
 * The bank-account feature, built once the event store is open. `EventSourcingModule.forRoot`
 * provides the store and `@InjectRepository(Account)`, and wires `Account`'s own
 * `@CommandHandler` methods (`Account.deposit`, `Account.withdraw`). `bootstrap()` validates and
 * wires the rest.
 */
export function createAccountModule(eventStore: EventStore): Constructor {
  @Module({
    imports: [EventSourcingModule.forRoot({ aggregates: [Account], eventStore })],
    handlers: [OpenAccountHandler, GetBalanceHandler, AccountActivityLog],
  })
  class AccountModule {}
  return AccountModule;
}
