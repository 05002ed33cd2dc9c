import { AggregateRepository, InjectRepository, QueryHandler } from 'potter';
import { Account } from '../account.aggregate';
import { GetBalance } from '../queries/get-balance.query';

/** Answers from the account itself, loaded from its events (a larger app would keep a read model). */
@QueryHandler(GetBalance)
export class GetBalanceHandler {
  constructor(@InjectRepository(Account) private readonly accounts: AggregateRepository<Account>) {}

  async execute(query: GetBalance): Promise<number> {
    const account = await this.accounts.load(query.accountId); // AggregateNotFoundError if unknown
    return account.balance;
  }
}
