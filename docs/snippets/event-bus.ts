import { Event, EventBus, EventHandler, Module, bootstrap, type MessageContext } from 'potter';

@Event()
class InvoiceIssued {
  constructor(readonly invoiceId: string) {}
}

@Event()
class InvoicePaid {
  constructor(readonly invoiceId: string) {}
}

const attempts = new Map<string, number>();

@EventHandler([InvoiceIssued, InvoicePaid])
class Ledger {
  handle(event: InvoiceIssued | InvoicePaid, context: MessageContext): void {
    console.log(`ledger: ${context.type} ${event.invoiceId}`);
  }
}

// Fails twice, then succeeds: its own retry policy (5 attempts, 10 ms apart) absorbs the failures.
@EventHandler(InvoiceIssued, { retry: { maxAttempts: 5, initialDelayMs: 10, jitter: 'none', multiplier: 1 } })
class Mailer {
  handle(event: InvoiceIssued): void {
    const attempt = (attempts.get(event.invoiceId) ?? 0) + 1;
    attempts.set(event.invoiceId, attempt);
    if (attempt < 3) throw new Error('SMTP unavailable');
    console.log(`mailer: sent ${event.invoiceId} on attempt ${attempt}`);
  }
}

// Always fails: after the default 3 attempts the failure goes to the error channel.
@EventHandler(InvoiceIssued)
class BrokenWebhook {
  handle(): void {
    throw new Error('webhook endpoint returned 500');
  }
}

@Module({ handlers: [Ledger, Mailer, BrokenWebhook] })
class BillingModule {}

async function main(): Promise<void> {
  const app = await bootstrap(BillingModule);
  app.onError((failure) => console.log(`onError: ${failure.error.code} ${failure.error.message}`));

  const bus = app.resolve(EventBus); // the same instance as app.eventBus
  const result = await bus.publish(new InvoiceIssued('inv-1'));
  console.log(`publish settled: ${result.delivered} deliveries, ${result.failures.length} failure(s)`);

  // Each handler receives the events in order; different handlers run concurrently.
  await bus.publishAll([new InvoiceIssued('inv-2'), new InvoicePaid('inv-2')]);
  await app.stop();
}

void main();
