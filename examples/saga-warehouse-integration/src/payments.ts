/** The card was declined: an answer, not worth a retry. */
export class PaymentDeclinedError extends Error {
  constructor(orderId: string) {
    super(`card declined for ${orderId}`);
    this.name = 'PaymentDeclinedError';
  }
}

/** One payment of the ledger. */
export interface Payment {
  paymentId: string;
  orderId: string;
  amount: number;
  status: 'captured' | 'refunded';
}

/** The card that the provider declines. */
export const DECLINED_CARD = '4000000000000002';

/**
 * A card provider, in memory (the stock is what this example keeps durable). Charges are
 * idempotent by the saga step's idempotency key, refunds by payment id.
 */
export class Payments {
  readonly #byKey = new Map<string, Payment>();
  #next = 1;

  charge(key: string, orderId: string, amount: number, card: string): Payment {
    const done = this.#byKey.get(key);
    if (done !== undefined) return done;
    if (card === DECLINED_CARD) {
      console.log(`  [payments] ${orderId}: card •••• ${card.slice(-4)} declined`);
      throw new PaymentDeclinedError(orderId);
    }
    const payment: Payment = { paymentId: `pay-${this.#next++}`, orderId, amount, status: 'captured' };
    this.#byKey.set(key, payment);
    console.log(`  [payments] ${orderId}: ${amount} € captured (${payment.paymentId})`);
    return payment;
  }

  refund(paymentId: string): void {
    for (const payment of this.#byKey.values()) {
      if (payment.paymentId !== paymentId || payment.status === 'refunded') continue;
      payment.status = 'refunded';
      console.log(`  [payments] ${payment.orderId}: ${payment.amount} € refunded (${paymentId})`);
    }
  }
}
