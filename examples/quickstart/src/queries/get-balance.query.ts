import { IsNotEmpty, IsString } from 'class-validator';
import { Query, TypedQuery } from 'potter';

/** The current balance of an account. */
@Query()
export class GetBalance extends TypedQuery<number> {
  @IsString()
  @IsNotEmpty()
  readonly accountId: string;

  constructor(accountId: string) {
    super();
    this.accountId = accountId;
  }
}
