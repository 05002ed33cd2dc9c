import {
  BootstrapError,
  Command,
  CommandHandler,
  Injectable,
  MessageContext,
  Module,
  bootstrap,
  createToken,
} from 'potter';

@Command()
class ShipOrder {}

class NotACommand {}

@Injectable()
class Mailer {} // never listed in any module's providers

@CommandHandler(ShipOrder)
class ShipOrderHandler {
  constructor(readonly mailer: Mailer) {}
  execute(): void {}
}

@CommandHandler(ShipOrder)
class ShipOrderAgainHandler {
  execute(): void {}
}

@CommandHandler(NotACommand)
class OrphanHandler {
  execute(): void {}
}

@Injectable() // a singleton: it cannot hold the per-message context
class AuditTrail {
  constructor(readonly context: MessageContext) {}
}

const A = createToken<string>('A');
const B = createToken<string>('B');

@Module({
  providers: [
    AuditTrail,
    { provide: A, useFactory: (b: string) => `a(${b})`, inject: [B] },
    { provide: B, useFactory: (a: string) => `b(${a})`, inject: [A] },
  ],
  handlers: [ShipOrderHandler, ShipOrderAgainHandler, OrphanHandler],
})
class ShopModule {}

async function main(): Promise<void> {
  try {
    await bootstrap(ShopModule);
  } catch (error) {
    if (!(error instanceof BootstrapError)) throw error;
    console.log(error.message);
    console.log(error.problems.map((problem) => problem.code).join(', '));
  }
}

void main();
