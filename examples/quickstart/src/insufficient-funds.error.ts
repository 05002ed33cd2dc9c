/**
 * A domain error: the account does not hold enough money. Application errors are plain `Error`
 * subclasses; Potter's own `PotterError` codes are reserved for the framework's errors.
 */
export class InsufficientFundsError extends Error {
  constructor(
    readonly accountId: string,
    readonly requested: number,
    readonly available: number,
  ) {
    super(`Account ${accountId} holds ${available}, cannot withdraw ${requested}.`);
    this.name = 'InsufficientFundsError';
  }
}
