import { EventHandler, Projection, type ProjectionContext } from 'potter';
import { OrderCancelled, OrderPlaced } from '../events/order.events';

/** What a customer ordered, net of refunds: a document of the `customer_totals` read model. */
export interface CustomerTotal extends Record<string, unknown> {
  customer: string;
  orders: number;
  spent: number;
}

/** The read-model collection of {@link CustomerTotals}. */
export const CUSTOMER_TOTALS = 'customer_totals';

/**
 * `customer-totals`: additive, so an event applied twice (or missed) would show in the totals —
 * which exactly-once delivery prevents. Cancellations do not name the customer, so this
 * projection keeps its own `order → customer` map.
 */
@Projection('customer-totals', { batchSize: 100 })
export class CustomerTotals {
  @EventHandler(OrderPlaced)
  async onPlaced(event: OrderPlaced, ctx: ProjectionContext): Promise<void> {
    await ctx
      .readModel<{ customer: string }>('customer_of_order')
      .put(event.orderId, { customer: event.customer });
    await ctx.readModel<CustomerTotal>(CUSTOMER_TOTALS).update(event.customer, (doc) => ({
      customer: event.customer,
      orders: (doc?.orders ?? 0) + 1,
      spent: (doc?.spent ?? 0) + event.total,
    }));
  }

  @EventHandler(OrderCancelled)
  async onCancelled(event: OrderCancelled, ctx: ProjectionContext): Promise<void> {
    const order = await ctx.readModel<{ customer: string }>('customer_of_order').get(event.orderId);
    if (!order) return;
    await ctx.readModel<CustomerTotal>(CUSTOMER_TOTALS).update(order.customer, (doc) => ({
      customer: order.customer,
      orders: doc?.orders ?? 0,
      spent: (doc?.spent ?? 0) - event.refunded,
    }));
  }
}
