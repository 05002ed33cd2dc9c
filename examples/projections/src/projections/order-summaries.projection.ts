import { EventHandler, Projection, SkipOnReplay, type ProjectionContext } from 'potter';
import { OrderCancelled, OrderPlaced, OrderShipped } from '../events/order.events';

/** One order as readers see it: a document of the `order_summaries` read model. */
export interface OrderSummary extends Record<string, unknown> {
  orderId: string;
  customer: string;
  total: number;
  status: 'placed' | 'shipped' | 'cancelled';
  carrier: string | null;
  refunded: number;
}

/** The read-model collection of {@link OrderSummaries}. */
export const ORDER_SUMMARIES = 'order_summaries';

/**
 * `order-summaries`: one document per order. Its writes go through `ctx.readModel()`, in the
 * transaction that also moves its checkpoint (both stores are SQL, on the event store's
 * database), so each event's effect happens exactly once — even after a crash.
 */
@Projection('order-summaries', { batchSize: 100 })
export class OrderSummaries {
  /** Shipping e-mails "sent" by this instance (a stand-in for a real mailer). */
  readonly notifications: string[] = [];

  @EventHandler(OrderPlaced)
  async onPlaced(event: OrderPlaced, ctx: ProjectionContext): Promise<void> {
    await ctx.readModel<OrderSummary>(ORDER_SUMMARIES).put(event.orderId, {
      orderId: event.orderId,
      customer: event.customer,
      total: event.total,
      status: 'placed',
      carrier: null,
      refunded: 0,
    });
  }

  @EventHandler(OrderShipped)
  async onShipped(event: OrderShipped, ctx: ProjectionContext): Promise<void> {
    await ctx
      .readModel<OrderSummary>(ORDER_SUMMARIES)
      .update(event.orderId, (doc) => doc && { ...doc, status: 'shipped', carrier: event.carrier });
  }

  @EventHandler(OrderCancelled)
  async onCancelled(event: OrderCancelled, ctx: ProjectionContext): Promise<void> {
    await ctx
      .readModel<OrderSummary>(ORDER_SUMMARIES)
      .update(event.orderId, (doc) => doc && { ...doc, status: 'cancelled', refunded: event.refunded });
  }

  /** A side effect: never repeated while a reset or rebuild replays events handled before. */
  @EventHandler(OrderShipped)
  @SkipOnReplay()
  notifyCustomer(event: OrderShipped): void {
    this.notifications.push(`order ${event.orderId} shipped with ${event.carrier}`);
  }
}
