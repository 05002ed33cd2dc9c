import { Injectable } from 'potter';

/** A captured or refunded payment. */
export interface Payment {
  readonly paymentId: string;
  readonly orderId: string;
  readonly amount: number;
  status: 'captured' | 'refunded';
}

/**
 * The payment service, called directly by the checkout saga: a charge is applied once per
 * idempotency key, and a refund once per payment.
 */
@Injectable()
export class Payments {
  readonly #payments = new Map<string, Payment>();
  readonly #byKey = new Map<string, Payment>();

  /** Captures the amount; a repeat with the same key returns the first payment. */
  charge(orderId: string, amount: number, idempotencyKey: string): Payment {
    const known = this.#byKey.get(idempotencyKey);
    if (known !== undefined) return known;
    const payment: Payment = {
      paymentId: `pay-${this.#payments.size + 1}`,
      orderId,
      amount,
      status: 'captured',
    };
    this.#payments.set(orderId, payment);
    this.#byKey.set(idempotencyKey, payment);
    console.log(`  [payments] ${orderId}: ${amount} € captured as ${payment.paymentId}`);
    return payment;
  }

  /** Refunds what was captured for the order, if anything. */
  refund(orderId: string): void {
    const payment = this.#payments.get(orderId);
    if (payment?.status !== 'captured') return;
    payment.status = 'refunded';
    console.log(`  [payments] ${orderId}: ${payment.amount} € refunded (${payment.paymentId})`);
  }

  ledger(): Payment[] {
    return [...this.#payments.values()].map((payment) => ({ ...payment }));
  }
}
