/**
 * The shipping service: receives `OrderPlaced` from the broker (a distributed handler: one consumer
 * group for all its instances), ships the order, and publishes `OrderShipped`, which is forwarded to
 * the broker. Runs until SIGINT/SIGTERM.
 */
import 'reflect-metadata';
import {
  EventBus,
  EventHandler,
  Injectable,
  MemoryInbox,
  MessagingModule,
  Module,
  bootstrap,
  createConsoleLogger,
  type MessageContext,
} from 'potter';
import { createBus, topicFor } from './bus';
import { OrderPlaced, OrderShipped } from './events';

@Injectable()
class Shipping {
  constructor(readonly events: EventBus) {}

  @EventHandler(OrderPlaced, { distributed: { group: 'shipping-service.orders' } })
  async ship(event: OrderPlaced, context: MessageContext): Promise<void> {
    const carrier = event.total >= 30 ? 'ups' : 'dhl';
    console.log(
      `shipping service: shipping ${event.orderId} for ${event.customer} (correlation ${context.correlationId})`,
    );
    // Published in this handler's context: same correlation id, caused by the OrderPlaced.
    await this.events.publish(new OrderShipped(event.orderId, carrier));
  }
}

async function main(): Promise<void> {
  const { bus, description } = createBus();
  @Module({
    imports: [
      MessagingModule.forRoot({
        bus,
        topicFor,
        inbox: new MemoryInbox(),
        forward: [OrderShipped],
        keyOf: (event) => (event as OrderShipped).orderId,
        closeOnStop: true,
      }),
    ],
    handlers: [Shipping],
  })
  class ShippingService {}
  const app = await bootstrap(ShippingService, { logger: createConsoleLogger({ level: 'warn' }) });
  await app.start();
  console.log(`shipping service: ready on ${description}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
