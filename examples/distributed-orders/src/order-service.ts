/**
 * The order service: places orders (event-sourced), relays their events to the broker through the
 * transactional outbox, and listens (distributed) for `OrderShipped` from the shipping service. It
 * exits once every order it placed in this run is shipped.
 */
import 'reflect-metadata';
import {
  EventHandler,
  EventSourcingModule,
  MemoryInbox,
  MessagingModule,
  Module,
  bootstrap,
  createConsoleLogger,
  type MessageContext,
} from 'potter';
import { SqlProjectionStore, type SqlEventStore } from 'potter/postgres';
import { createBus, topicFor } from './bus';
import { OrderShipped } from './events';
import { Order, PlaceOrder } from './order.aggregate';
import { createStore } from './store';

const ORDERS = Number(process.env.POTTER_ORDERS || 5);
const run = process.env.POTTER_RUN_ID || 'demo';
const shipped = new Map<string, string>();
let allShipped: () => void = () => undefined;
const done = new Promise<void>((resolve) => (allShipped = resolve));

class ShipmentTracker {
  @EventHandler(OrderShipped, { distributed: { group: 'order-service.shipments' } })
  onShipped(event: OrderShipped, context: MessageContext): void {
    if (!event.orderId.startsWith(`${run}-`) || shipped.has(event.orderId)) return;
    shipped.set(event.orderId, event.carrier);
    console.log(
      `order service: ${event.orderId} shipped with ${event.carrier} (correlation ${context.correlationId})`,
    );
    if (shipped.size === ORDERS) allShipped();
  }
}

async function main(): Promise<void> {
  const { eventStore, description } = await createStore('order-service');
  const { bus, description: broker } = createBus();
  console.log(`order service: events in ${description}; broker: ${broker}`);
  @Module({
    imports: [
      EventSourcingModule.forRoot({ aggregates: [Order], eventStore, publishEvents: false }),
      MessagingModule.forRoot({
        bus,
        topicFor,
        inbox: new MemoryInbox(),
        outbox: { store: SqlProjectionStore.for(eventStore as SqlEventStore), name: `orders-${run}` },
        closeOnStop: true,
      }),
    ],
    handlers: [ShipmentTracker],
  })
  class OrderService {}
  const app = await bootstrap(OrderService, { logger: createConsoleLogger({ level: 'warn' }) });
  await app.start();
  for (let i = 1; i <= ORDERS; i++) {
    const orderId = `${run}-${i}`;
    await app.commandBus.execute(new PlaceOrder(orderId, i % 2 ? 'ann' : 'bob', 10 * i), {
      metadata: { correlationId: `checkout-${orderId}` },
    });
    console.log(`order service: placed ${orderId}`);
  }
  const timeout = setTimeout(
    () => {
      console.error(`order service: only ${shipped.size} of ${ORDERS} orders shipped in time`);
      process.exit(1);
    },
    Number(process.env.POTTER_TIMEOUT_MS || 60_000),
  );
  await done;
  clearTimeout(timeout);
  console.log(`order service: all ${ORDERS} orders shipped`);
  await app.stop();
  await eventStore.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
