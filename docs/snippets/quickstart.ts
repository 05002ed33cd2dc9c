import { IsPositive } from 'class-validator';
import {
  Command,
  CommandHandler,
  Event,
  EventBus,
  EventHandler,
  Module,
  TypedCommand,
  bootstrap,
} from 'potter';
import type { MessageContext } from 'potter';

@Command()
class Deposit extends TypedCommand<number> {
  @IsPositive() readonly amount: number;
  constructor(amount: number) {
    super();
    this.amount = amount;
  }
}

@Event()
class Deposited {
  constructor(readonly balance: number) {}
}

@CommandHandler(Deposit, { emits: [Deposited] })
class DepositHandler {
  #balance = 0;
  constructor(private readonly events: EventBus) {}
  async execute(command: Deposit): Promise<number> {
    this.#balance += command.amount;
    await this.events.publish(new Deposited(this.#balance)); // awaits the event handlers
    return this.#balance;
  }
}

@EventHandler(Deposited)
class AuditLog {
  handle(event: Deposited, context: MessageContext): void {
    console.log(`balance ${event.balance} (correlation ${context.correlationId})`);
  }
}

@Module({ handlers: [DepositHandler, AuditLog] })
class BankModule {}

async function main(): Promise<void> {
  const app = await bootstrap(BankModule);
  await app.start();
  const balance: number = await app.commandBus.execute(new Deposit(100)); // TypedCommand<number>
  console.log(`balance: ${balance}`);
  await app.commandBus.execute(new Deposit(-5)).catch((error: Error) => console.log(error.message));
  await app.stop();
}

void main();
