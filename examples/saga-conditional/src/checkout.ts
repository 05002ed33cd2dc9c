/**
 * The data of a checkout saga: the order, then what the steps learn. It is saved after every step
 * as JSON, so it holds plain data only.
 */
export interface CheckoutContext {
  orderId: string;
  customer: string;
  /** The order total, in whole euros. */
  amount: number;
  /** A gift-wrap message, when the customer asked for one. */
  giftMessage?: string;
  /** Set by `fraud-check` when the risk team approved the order. */
  reviewedBy?: string;
  /** Set by `charge-payment`. */
  paymentId?: string;
}

/** Orders from this amount on are reviewed by the risk team before the card is charged. */
export const REVIEW_THRESHOLD = 1_000;
