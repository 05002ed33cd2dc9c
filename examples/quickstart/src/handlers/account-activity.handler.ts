import { EventHandler, type MessageContext } from 'potter';
import { AccountOpened, MoneyDeposited, MoneyWithdrawn, type AccountEvent } from '../events/account.events';

/**
 * Logs every account event with its message metadata. An event may have any number of handlers;
 * each runs isolated, with its own retries (3 attempts by default), and reports to `app.onError`.
 */
@EventHandler([AccountOpened, MoneyDeposited, MoneyWithdrawn])
export class AccountActivityLog {
  handle(event: AccountEvent, context: MessageContext): void {
    console.log(
      `  [event] ${context.type} on ${event.accountId} correlationId=${context.correlationId} causationId=${context.causationId ?? '-'}`,
    );
  }
}
