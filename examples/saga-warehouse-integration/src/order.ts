/** The two warehouses of the example. */
export type WarehouseName = 'north' | 'south';

/** One line of an order, and the warehouse that ships it. */
export interface OrderLine {
  sku: string;
  quantity: number;
  warehouse: WarehouseName;
}

/** The saga's context: saved as JSON with the saga after every step. */
export interface OrderContext {
  orderId: string;
  customer: string;
  lines: OrderLine[];
  amount: number;
  card: string;
  /** The id of the 2PC transaction that reserved the stock, once it committed. */
  reservationTx?: string;
  paymentId?: string;
}

/** What each warehouse's `prepare` receives: the order id and the lines of every warehouse. */
export interface ReservationPayload {
  orderId: string;
  lines: OrderLine[];
}

/** `2 desk (north), 3 chair (south)`. */
export function describeLines(lines: readonly OrderLine[]): string {
  return lines.map((l) => `${l.quantity} ${l.sku} (${l.warehouse})`).join(', ');
}
