import { Event } from 'potter';

/** Raised by the order service's `Order` aggregate; relayed to the broker by the outbox. */
@Event('orders.OrderPlaced')
export class OrderPlaced {
  constructor(
    readonly orderId: string,
    readonly customer: string,
    readonly total: number,
  ) {}
}

/** Published by the shipping service once it shipped an order; forwarded to the broker. */
@Event('shipping.OrderShipped')
export class OrderShipped {
  constructor(
    readonly orderId: string,
    readonly carrier: string,
  ) {}
}
