import {
  Command,
  CommandHandler,
  Inject,
  Injectable,
  LOGGER,
  MessageContext,
  Module,
  bootstrap,
  createToken,
  type Logger,
  type OnInit,
  type OnStart,
  type OnStop,
} from 'potter';

/** A typed token for a value that is not a class. */
const DATABASE_URL = createToken<string>('DATABASE_URL');

@Injectable()
class Database implements OnInit, OnStart, OnStop {
  constructor(
    @Inject(DATABASE_URL) readonly url: string,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}
  onInit(): void {
    console.log(`Database.onInit (${this.url})`); // during bootstrap(), dependencies first
  }
  onStart(): void {
    console.log('Database.onStart'); // app.start(), dependencies first
  }
  onStop(): void {
    console.log('Database.onStop'); // app.stop(), after draining, dependents first
  }
}

@Injectable()
class AccountRepository implements OnInit, OnStart, OnStop {
  constructor(private readonly db: Database) {}
  onInit(): void {
    console.log('AccountRepository.onInit');
  }
  onStart(): void {
    console.log('AccountRepository.onStart');
  }
  onStop(): void {
    console.log('AccountRepository.onStop');
  }
  describe(): string {
    return `accounts in ${this.db.url}`;
  }
}

@Module({
  providers: [Database, { provide: DATABASE_URL, useValue: 'memory://bank' }],
  exports: [Database],
})
class DatabaseModule {}

@Command()
class CloseAccount {
  constructor(readonly accountId: string) {}
}

/** One instance per handled message: it may inject the MessageContext. */
@Injectable({ scope: 'message' })
@CommandHandler(CloseAccount)
class CloseAccountHandler {
  constructor(
    private readonly context: MessageContext,
    private readonly accounts: AccountRepository,
  ) {}
  execute(command: CloseAccount): string {
    return `closed ${command.accountId} (${this.accounts.describe()}, message ${this.context.type})`;
  }
}

@Module({
  imports: [DatabaseModule],
  providers: [AccountRepository],
  handlers: [CloseAccountHandler],
})
class AccountsModule {}

async function main(): Promise<void> {
  const app = await bootstrap(AccountsModule, { shutdownTimeoutMs: 5_000 });
  await app.start();
  console.log(await app.commandBus.execute(new CloseAccount('acc-1')));
  await app.stop();
}

void main();
