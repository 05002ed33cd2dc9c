import { IsNotEmpty, IsPositive, IsString } from 'class-validator';
import { Command, TargetAggregateId, TypedCommand } from 'potter';

/**
 * Puts money on an account; answers with the new balance. Handled by `Account.deposit`: Potter
 * loads the account named by the `@TargetAggregateId()` field, calls the method, and saves.
 */
@Command()
export class Deposit extends TypedCommand<number> {
  @TargetAggregateId()
  @IsString()
  @IsNotEmpty()
  readonly accountId: string;

  @IsPositive()
  readonly amount: number;

  constructor(accountId: string, amount: number) {
    super();
    this.accountId = accountId;
    this.amount = amount;
  }
}
