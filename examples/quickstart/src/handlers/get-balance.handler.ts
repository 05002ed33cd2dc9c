import { QueryHandler } from 'potter';
import { AccountStore } from '../account-store';
import { GetBalance } from '../queries/get-balance.query';

@QueryHandler(GetBalance)
export class GetBalanceHandler {
  constructor(private readonly store: AccountStore) {}

  execute(query: GetBalance): number {
    return this.store.get(query.accountId).balance;
  }
}
