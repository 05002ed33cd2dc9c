import { Command, Event } from 'potter';

/**
 * Charges a card for an order. The card provider answers later, with `PaymentCaptured` or
 * `PaymentDeclined` carrying the command's correlation id.
 */
@Command('payments.ChargeCard')
export class ChargeCard {
  constructor(
    readonly orderId: string,
    readonly card: string,
    readonly amount: number,
  ) {}
}

/** Refunds what was captured for an order (nothing happens if nothing was). */
@Command('payments.RefundPayment')
export class RefundPayment {
  constructor(readonly orderId: string) {}
}

/** The card provider captured the amount. */
@Event('payments.PaymentCaptured')
export class PaymentCaptured {
  constructor(
    readonly orderId: string,
    readonly paymentId: string,
    readonly amount: number,
  ) {}
}

/** The card provider refused the charge. */
@Event('payments.PaymentDeclined')
export class PaymentDeclined {
  constructor(
    readonly orderId: string,
    readonly reason: string,
  ) {}
}
