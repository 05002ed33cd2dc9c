import {
  Command,
  CommandHandler,
  Module,
  bootstrap,
  currentMessageContext,
  type HandlerDescriptor,
  type Middleware,
  type MiddlewareFactory,
} from 'potter';

// A middleware function applies to every handler of the bus it is given to.
const timing: Middleware = async (context, next, handler) => {
  const started = performance.now();
  try {
    return await next();
  } finally {
    console.log(
      `${handler.handlerName} took ${(performance.now() - started).toFixed(1)} ms (${context.type})`,
    );
  }
};

// A factory decides once per handler, when the pipeline is built, whether it applies at all.
const auditIdempotent: MiddlewareFactory = {
  forHandler(handler: HandlerDescriptor): Middleware | undefined {
    if (!handler.idempotent) return undefined; // other handlers pay nothing
    return async (context, next) => {
      console.log(`audit: ${context.type} ${context.id} (correlation ${context.correlationId})`);
      return next();
    };
  },
};

@Command({ idempotent: true })
class RenameCustomer {
  constructor(readonly name: string) {}
}

@Command()
class ChargeCard {
  constructor(readonly amount: number) {}
}

@CommandHandler(RenameCustomer)
class RenameCustomerHandler {
  execute(command: RenameCustomer): string {
    // The current context follows async calls (AsyncLocalStorage), also outside the handler.
    return `renamed to ${command.name} in ${currentMessageContext()?.type}`;
  }
}

@CommandHandler(ChargeCard, { timeoutMs: 500 })
class ChargeCardHandler {
  execute(command: ChargeCard): number {
    return command.amount;
  }
}

@Module({ handlers: [RenameCustomerHandler, ChargeCardHandler] })
class CustomerModule {}

async function main(): Promise<void> {
  // Built-ins run first (validation → retry → timeout), then these, outermost first.
  const app = await bootstrap(CustomerModule, { commandBus: { middleware: [timing, auditIdempotent] } });
  console.log(await app.commandBus.execute(new RenameCustomer('Ada')));
  console.log(await app.commandBus.execute(new ChargeCard(42), { metadata: { correlationId: 'req-7' } }));
  await app.stop();
}

void main();
