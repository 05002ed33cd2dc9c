import { IsNotEmpty, IsNumber, IsString, MaxLength, Min } from 'class-validator';
import { Command, TypedCommand } from 'potter';

/** Opens an account; the handler answers with the new account's id. */
@Command()
export class OpenAccount extends TypedCommand<string> {
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  readonly owner: string;

  @IsNumber()
  @Min(0)
  readonly initialDeposit: number;

  constructor(owner: string, initialDeposit = 0) {
    super();
    this.owner = owner;
    this.initialDeposit = initialDeposit;
  }
}
