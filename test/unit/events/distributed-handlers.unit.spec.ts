import { DistributedHandlers, Event, EventBus, EventHandler, MessageContext, Module } from 'potter';
import { createTestApp } from 'potter/testing';

@Event('dist.Shipped')
class Shipped {
  constructor(readonly orderId: string) {}
}

class Shipping {
  static calls: [string, string | undefined][] = [];
  @EventHandler(Shipped, { distributed: true })
  onShipped(event: Shipped, context: MessageContext): void {
    Shipping.calls.push([event.orderId, context.correlationId]);
  }
  @EventHandler(Shipped, { distributed: { group: 'billing' } })
  bill(): void {}
  @EventHandler(Shipped)
  local(event: Shipped): void {
    Shipping.calls.push([`local ${event.orderId}`, undefined]);
  }
}

describe('distributed event handlers', () => {
  it('are kept off the in-process bus and listed with their consumer groups', async () => {
    @Module({ handlers: [Shipping] })
    class App {}
    const app = await createTestApp(App);
    Shipping.calls = [];
    await app.eventBus.publish(new Shipped('o-1'));
    expect(Shipping.calls).toEqual([['local o-1', undefined]]);
    const handlers = app.resolve(DistributedHandlers).list();
    expect(handlers.map((h) => [h.group, h.eventClass])).toEqual([
      ['Shipping.onShipped', Shipped],
      ['billing', Shipped],
    ]);
    // handleOnce runs the handler once, through the bus's middleware, with the given context.
    const context = new MessageContext(
      'event',
      'dist.Shipped',
      new Shipped('o-2'),
      1,
      { correlationId: 'c-9' },
      undefined,
    );
    await app.resolve(EventBus).handleOnce(handlers[0]!.entry, new Shipped('o-2'), context);
    expect(Shipping.calls.at(-1)).toEqual(['o-2', 'c-9']);
    await app.stop();
  });
});
