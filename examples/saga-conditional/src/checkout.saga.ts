import { Compensate, Saga, SagaStep, type StepArgs } from 'potter';
import { REVIEW_THRESHOLD, type CheckoutContext } from './checkout';
import { RequestReview, ReviewDecided, WithdrawReview } from './risk/risk-desk';
import { Payments } from './shop/payments';
import { Warehouse } from './shop/warehouse';

/** A whole checkout must finish within this time, or it is undone. */
export const CHECKOUT_TIMEOUT_MS = 1_500;

/** A domain error: the risk team refused the order. */
export class OrderRejectedError extends Error {
  constructor(
    readonly orderId: string,
    readonly analyst: string,
  ) {
    super(`Order ${orderId} was rejected by ${analyst}.`);
    this.name = 'OrderRejectedError';
  }
}

/**
 * Checkout, with two conditional steps: `fraud-check` runs only for orders of 1,000 € or more,
 * `gift-wrap` only when the customer asked for it. A condition is evaluated over the context when
 * the step's turn comes; a false one skips the step (event `SagaStepSkipped`, listed in the
 * state's `skippedSteps`), and a skipped step is never compensated.
 *
 * The whole saga has a deadline (`timeoutMs`): a review nobody answers in time aborts the waiting
 * step, and the saga compensates — the waiting step included, since its effect (a queued review
 * request) is uncertain. A checkout can also be cancelled while it runs (`orchestrator.cancel`).
 *
 * The class is a provider: it injects the warehouse and the payment service and calls them
 * directly, passing the step's idempotency key; the risk desk is reached by command and event.
 */
@Saga('checkout', { timeoutMs: CHECKOUT_TIMEOUT_MS })
export class CheckoutSaga {
  constructor(
    private readonly warehouse: Warehouse,
    private readonly payments: Payments,
  ) {}

  @SagaStep('reserve-stock')
  reserveStock({ context, idempotencyKey }: StepArgs<CheckoutContext>): void {
    this.warehouse.reserve(context.orderId, context.amount, idempotencyKey);
  }

  @Compensate('reserve-stock')
  releaseStock({ context, idempotencyKey }: StepArgs<CheckoutContext>): void {
    this.warehouse.release(context.orderId, idempotencyKey);
  }

  @SagaStep('fraud-check', { when: (order: CheckoutContext) => order.amount >= REVIEW_THRESHOLD })
  async fraudCheck({ context, dispatch, waitFor }: StepArgs<CheckoutContext>): Promise<void> {
    // The analyst's decision does not carry this saga's correlation id: match it by order id.
    // No timeout of its own: the saga's deadline bounds the wait.
    const decided = waitFor(ReviewDecided, { match: (decision) => decision.orderId === context.orderId });
    await dispatch(new RequestReview(context.orderId, context.customer, context.amount));
    const decision = await decided;
    if (decision.decision !== 'approved') throw new OrderRejectedError(context.orderId, decision.analyst);
    context.reviewedBy = decision.analyst;
  }

  @Compensate('fraud-check')
  async withdrawReview({ context, dispatch }: StepArgs<CheckoutContext>): Promise<void> {
    await dispatch(new WithdrawReview(context.orderId));
  }

  @SagaStep('gift-wrap', { when: (order: CheckoutContext) => order.giftMessage !== undefined })
  giftWrap({ context, idempotencyKey }: StepArgs<CheckoutContext>): void {
    this.warehouse.wrap(context.orderId, context.giftMessage!, idempotencyKey);
  }

  @Compensate('gift-wrap')
  unwrap({ context, idempotencyKey }: StepArgs<CheckoutContext>): void {
    this.warehouse.unwrap(context.orderId, idempotencyKey);
  }

  @SagaStep('charge-payment')
  chargePayment({ context, idempotencyKey }: StepArgs<CheckoutContext>): void {
    context.paymentId = this.payments.charge(context.orderId, context.amount, idempotencyKey).paymentId;
  }

  @Compensate('charge-payment')
  refund({ context }: StepArgs<CheckoutContext>): void {
    this.payments.refund(context.orderId);
  }

  @SagaStep('confirm-order')
  confirm({ context }: StepArgs<CheckoutContext>): void {
    console.log(`  [mail] ${context.orderId}: order confirmation sent to ${context.customer}`);
  }
}
