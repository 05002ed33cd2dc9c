import { Module } from 'potter';
import { AccountStore } from './account-store';
import { AccountActivityLog } from './handlers/account-activity.handler';
import { DepositHandler } from './handlers/deposit.handler';
import { GetBalanceHandler } from './handlers/get-balance.handler';
import { OpenAccountHandler } from './handlers/open-account.handler';
import { WithdrawHandler } from './handlers/withdraw.handler';

/** The bank-account feature: its store and its handlers. `bootstrap()` validates and wires them. */
@Module({
  providers: [AccountStore],
  handlers: [OpenAccountHandler, DepositHandler, WithdrawHandler, GetBalanceHandler, AccountActivityLog],
})
export class AccountModule {}
