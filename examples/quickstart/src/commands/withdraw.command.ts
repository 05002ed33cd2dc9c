import { IsNotEmpty, IsPositive, IsString } from 'class-validator';
import { Command, TargetAggregateId, TypedCommand } from 'potter';

/** Takes money from an account; answers with the new balance. Handled by `Account.withdraw`. */
@Command()
export class Withdraw extends TypedCommand<number> {
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
