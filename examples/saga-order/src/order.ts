/** One line of an order. */
export interface OrderLine {
  readonly sku: string;
  readonly quantity: number;
}

/**
 * The data of an order-fulfilment saga: the order, then what the steps learn (the payment id, the
 * tracking number). It is saved after every step, as JSON (`SqlSagaStore` keeps it in a `jsonb`
 * column), so it holds plain data only.
 */
export interface OrderContext {
  orderId: string;
  customer: string;
  lines: OrderLine[];
  /** The order total, in whole euros. */
  amount: number;
  /** The card number the customer pays with (a test number: `4242…` pays, `4000…0002` is declined). */
  card: string;
  /** Where the parcel goes (ISO country code). */
  country: string;
  /** Set by `charge-payment`. */
  paymentId?: string;
  /** Set by `ship-order`. */
  trackingNumber?: string;
}
