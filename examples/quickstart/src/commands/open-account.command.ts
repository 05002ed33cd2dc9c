import { IsNotEmpty, IsNumber, IsString, MaxLength, Min } from 'class-validator';
import { Command, TypedCommand } from 'potter';

/** Opens an account; the handler answers with the account's id. */
@Command()
export class OpenAccount extends TypedCommand<string> {
  @IsString()
  @IsNotEmpty()
  readonly accountId: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  readonly owner: string;

  @IsNumber()
  @Min(0)
  readonly initialDeposit: number;

  constructor(accountId: string, owner: string, initialDeposit = 0) {
    super();
    this.accountId = accountId;
    this.owner = owner;
    this.initialDeposit = initialDeposit;
  }
}
