import { Event } from 'potter';

/** An account was opened. */
@Event()
export class AccountOpened {
  constructor(
    readonly accountId: string,
    readonly owner: string,
    readonly initialDeposit: number,
  ) {}
}

/** Money was put on an account. */
@Event()
export class MoneyDeposited {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly balance: number,
  ) {}
}

/** Money was taken from an account. */
@Event()
export class MoneyWithdrawn {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly balance: number,
  ) {}
}

/** Every event of an account. */
export type AccountEvent = AccountOpened | MoneyDeposited | MoneyWithdrawn;
