import {
  Aggregate,
  AggregateRoot,
  Apply,
  Command,
  CommandHandler,
  Event,
  EventHandler,
  EventSourcingModule,
  MemoryEventStore,
  MemoryInbox,
  MemoryMessageBus,
  MemoryProjectionStore,
  MessageContext,
  MessagingModule,
  Module,
  TargetAggregateId,
} from 'potter';
import { createTestApp } from 'potter/testing';

@Event('msg.OrderPlaced')
class OrderPlaced {
  constructor(
    readonly orderId: string,
    readonly total: number,
  ) {}
}

const shipped: { orderId: string; correlationId: string; instance: string }[] = [];

function shippingApp(bus: MemoryMessageBus, instance: string, inbox?: MemoryInbox) {
  class Shipping {
    @EventHandler(OrderPlaced, { distributed: true })
    ship(event: OrderPlaced, context: MessageContext): void {
      shipped.push({ orderId: event.orderId, correlationId: context.correlationId, instance });
    }
  }
  @Module({ imports: [MessagingModule.forRoot({ bus, ...(inbox ? { inbox } : {}) })], handlers: [Shipping] })
  class ShippingApp {}
  return createTestApp(ShippingApp);
}

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('MessagingModule', () => {
  beforeEach(() => (shipped.length = 0));

  it('delivers forwarded events to distributed handlers in another app, once per group, with their metadata', async () => {
    const bus = new MemoryMessageBus();
    @Module({
      imports: [
        MessagingModule.forRoot({ bus, forward: [OrderPlaced], keyOf: (e) => (e as OrderPlaced).orderId }),
      ],
    })
    class OrdersApp {}
    const orders = await createTestApp(OrdersApp);
    const shippingA = await shippingApp(bus, 'a');
    const shippingB = await shippingApp(bus, 'b');
    await Promise.all([orders.start(), shippingA.start(), shippingB.start()]);
    try {
      for (let i = 0; i < 20; i++) {
        await orders.eventBus.publish(new OrderPlaced(`o-${i}`, i), { correlationId: `corr-${i}` });
      }
      await eventually(() => shipped.length === 20);
      await new Promise((r) => setTimeout(r, 50));
      expect(shipped).toHaveLength(20);
      expect(new Set(shipped.map((s) => s.orderId)).size).toBe(20);
      expect(shipped.every((s) => s.correlationId === `corr-${s.orderId.slice(2)}`)).toBe(true);
      // Competing consumers: the group's messages are shared by both instances.
      expect(new Set(shipped.map((s) => s.instance))).toEqual(new Set(['a', 'b']));
    } finally {
      await Promise.all([orders.stop(), shippingA.stop(), shippingB.stop()]);
    }
  });

  it('relays event-sourced events through the outbox; the inbox drops redeliveries', async () => {
    @Command('msg.PlaceOrder')
    class PlaceOrder {
      @TargetAggregateId() readonly orderId: string;
      constructor(orderId: string) {
        this.orderId = orderId;
      }
    }
    @Aggregate('MsgOrder')
    class MsgOrder extends AggregateRoot {
      @CommandHandler(PlaceOrder)
      place(command: PlaceOrder): void {
        this.apply(new OrderPlaced(command.orderId, 10));
      }
      @Apply(OrderPlaced)
      onPlaced(): void {}
    }
    const bus = new MemoryMessageBus();
    const eventStore = new MemoryEventStore();
    @Module({
      imports: [
        EventSourcingModule.forRoot({ aggregates: [MsgOrder], eventStore, publishEvents: false }),
        MessagingModule.forRoot({ bus, outbox: { store: new MemoryProjectionStore(), pollIntervalMs: 10 } }),
      ],
    })
    class OrdersApp {}
    const orders = await createTestApp(OrdersApp);
    const inbox = new MemoryInbox();
    const shipping = await shippingApp(bus, 'a', inbox);
    await Promise.all([orders.start(), shipping.start()]);
    try {
      await orders.commandBus.execute(new PlaceOrder('o-1'));
      await orders.commandBus.execute(new PlaceOrder('o-2'));
      await eventually(() => shipped.length === 2);
      // The same event delivered again (a relay restarted after publishing, before its checkpoint).
      const [event] = await eventStore.readStream('MsgOrder-o-1');
      await bus.publish('events.msg.OrderPlaced', [
        {
          id: event!.id,
          type: event!.type,
          kind: 'event',
          payload: event!.payload,
          metadata: { ...event!.metadata, schemaVersion: 1 },
        },
      ]);
      await new Promise((r) => setTimeout(r, 100));
      expect(shipped.map((s) => s.orderId).sort()).toEqual(['o-1', 'o-2']);
    } finally {
      await Promise.all([orders.stop(), shipping.stop()]);
    }
  });
});
