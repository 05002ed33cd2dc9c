import { Injectable, type OnStop } from 'potter';

/** One bank account as the store keeps it. */
export interface Account {
  id: string;
  owner: string;
  balance: number;
}

/**
 * In-memory storage of accounts: a singleton provider, shared by every handler that injects it.
 * A real application would put a repository over a database here.
 */
@Injectable()
export class AccountStore implements OnStop {
  readonly #accounts = new Map<string, Account>();
  #sequence = 0;

  open(owner: string, balance: number): Account {
    const account: Account = { id: `acc-${++this.#sequence}`, owner, balance };
    this.#accounts.set(account.id, account);
    return account;
  }

  get(id: string): Account {
    const account = this.#accounts.get(id);
    if (account === undefined) throw new Error(`Account ${id} does not exist.`);
    return account;
  }

  /** Called by `app.stop()`, after in-flight handlers have finished. */
  onStop(): void {
    console.log(`AccountStore: closed with ${this.#accounts.size} account(s)`);
    this.#accounts.clear();
  }
}
