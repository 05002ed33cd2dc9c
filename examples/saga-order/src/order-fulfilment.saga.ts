import { Compensate, Saga, SagaStep, type StepArgs } from 'potter';
import { ReleaseStock, ReserveStock } from './inventory/inventory.commands';
import type { OrderContext } from './order';
import { ChargeCard, PaymentCaptured, PaymentDeclined, RefundPayment } from './payments/payments.messages';
import { PaymentDeclinedError } from './payments/payments.service';
import { ShipOrder } from './shipping/shipping.commands';

/** How long `charge-payment` waits for the card provider's answer before trying again. */
export const PAYMENT_ANSWER_TIMEOUT_MS = 400;

/**
 * Order fulfilment: reserve the stock, charge the card, ship the parcel. When a step fails for
 * good, the steps done before it are undone in reverse order: a refused parcel refunds the payment
 * and then releases the stock; a declined card releases the stock.
 *
 * Every step talks to its service through a command on the CommandBus (`dispatch`), which carries
 * the saga's correlation id and the step's idempotency key (header `potter-idempotency-key`), so
 * the services apply each step once even when it runs again.
 */
@Saga('order-fulfilment')
export class OrderFulfilmentSaga {
  @SagaStep('reserve-stock')
  async reserveStock({ context, dispatch }: StepArgs<OrderContext>): Promise<void> {
    await dispatch(new ReserveStock(context.orderId, context.lines));
  }

  @Compensate('reserve-stock')
  async releaseStock({ context, dispatch }: StepArgs<OrderContext>): Promise<void> {
    await dispatch(new ReleaseStock(context.orderId));
  }

  /**
   * The provider answers asynchronously: the step waits for `PaymentCaptured` or `PaymentDeclined`
   * with its correlation id. An answer that never comes times out, and the step is retried (same
   * idempotency key: the card is not charged twice). A declined card is an answer, not a glitch:
   * it is not retried, and the saga compensates.
   */
  @SagaStep('charge-payment', {
    retry: { maxAttempts: 3, initialDelayMs: 200, jitter: 'equal' },
    retryable: (error) => !(error instanceof PaymentDeclinedError),
  })
  async chargePayment({ context, dispatch, waitFor }: StepArgs<OrderContext>): Promise<void> {
    // Wait first, then dispatch: the answer may be published before `dispatch` returns.
    const captured = waitFor(PaymentCaptured, { timeoutMs: PAYMENT_ANSWER_TIMEOUT_MS });
    const declined = waitFor(PaymentDeclined, { timeoutMs: PAYMENT_ANSWER_TIMEOUT_MS });
    await dispatch(new ChargeCard(context.orderId, context.card, context.amount));
    // The wait that loses the race is dropped when the attempt ends.
    const answer = await Promise.race([captured, declined]);
    if (answer instanceof PaymentDeclined) throw new PaymentDeclinedError(answer.orderId, answer.reason);
    context.paymentId = answer.paymentId;
  }

  @Compensate('charge-payment')
  async refundPayment({ context, dispatch }: StepArgs<OrderContext>): Promise<void> {
    await dispatch(new RefundPayment(context.orderId));
  }

  /** The last step: nothing follows it that could fail, so it needs no compensation. */
  @SagaStep('ship-order')
  async shipOrder({ context, dispatch }: StepArgs<OrderContext>): Promise<void> {
    context.trackingNumber = await dispatch<string>(
      new ShipOrder(context.orderId, context.country, context.lines),
    );
  }
}
