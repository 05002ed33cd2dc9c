import { Event } from 'potter';

/** A customer placed an order. */
@Event('order.placed')
export class OrderPlaced {
  constructor(
    readonly orderId: string,
    readonly customer: string,
    readonly total: number,
  ) {}
}

/** An order left the warehouse. */
@Event('order.shipped')
export class OrderShipped {
  constructor(
    readonly orderId: string,
    readonly carrier: string,
  ) {}
}

/** An order was cancelled before shipping; its total is refunded. */
@Event('order.cancelled')
export class OrderCancelled {
  constructor(
    readonly orderId: string,
    readonly reason: string,
    readonly refunded: number,
  ) {}
}
