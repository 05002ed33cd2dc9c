import { Aggregate, AggregateNotFoundError, AggregateRoot, Apply, CommandHandler } from 'potter';
import { Deposit } from './commands/deposit.command';
import { Withdraw } from './commands/withdraw.command';
import { AccountOpened, MoneyDeposited, MoneyWithdrawn } from './events/account.events';
import { InsufficientFundsError } from './insufficient-funds.error';

/**
 * A bank account, event-sourced: no table holds its balance; it is the fold of its events, stored
 * in the stream `Account-<id>`. Behaviour methods check the rules and `apply` events; only the
 * `@Apply` methods change the state — for new events at once, for stored ones on every load.
 */
@Aggregate('Account')
export class Account extends AggregateRoot {
  owner = '';
  balance = 0;
  opened = false;

  /** Called by `OpenAccountHandler`, a classic command handler. */
  open(owner: string, initialDeposit: number): void {
    if (this.opened) throw new Error(`Account ${this.id} is open already.`);
    this.apply(new AccountOpened(this.id, owner, initialDeposit));
  }

  /** Handles `Deposit` itself: Potter loads the account, calls this method, then saves its new events. */
  @CommandHandler(Deposit, { emits: [MoneyDeposited] })
  deposit(command: Deposit): number {
    this.assertOpened();
    this.apply(new MoneyDeposited(this.id, command.amount, this.balance + command.amount));
    return this.balance;
  }

  @CommandHandler(Withdraw, { emits: [MoneyWithdrawn] })
  withdraw(command: Withdraw): number {
    this.assertOpened();
    // Thrown to the caller of `commandBus.execute`, unchanged; nothing is stored.
    if (command.amount > this.balance)
      throw new InsufficientFundsError(this.id, command.amount, this.balance);
    this.apply(new MoneyWithdrawn(this.id, command.amount, this.balance - command.amount));
    return this.balance;
  }

  private assertOpened(): void {
    // Potter hands a command a new, empty account when its stream has no event.
    if (!this.opened) throw new AggregateNotFoundError('Account', this.id);
  }

  @Apply(AccountOpened)
  protected onOpened(event: AccountOpened): void {
    this.owner = event.owner;
    this.balance = event.initialDeposit;
    this.opened = true;
  }

  @Apply(MoneyDeposited)
  protected onDeposited(event: MoneyDeposited): void {
    this.balance += event.amount;
  }

  @Apply(MoneyWithdrawn)
  protected onWithdrawn(event: MoneyWithdrawn): void {
    this.balance -= event.amount;
  }
}
