import { defineSaga, twoPhaseStep, type SagaDefinition, type TwoPhaseCoordinator } from 'potter';
import type { OrderContext, ReservationPayload, WarehouseName } from './order';
import type { Orders } from './orders';
import { PaymentDeclinedError, type Payments } from './payments';
import type { Warehouse } from './warehouse';

/** What the saga's steps use. */
export interface OrderSagaDeps {
  coordinator: TwoPhaseCoordinator;
  warehouses: Readonly<Record<WarehouseName, Warehouse>>;
  orders: Orders;
  payments: Payments;
}

/** The step that reserves the stock with a two-phase commit (its transaction id is `<sagaId>:reserve-stock`). */
export const RESERVE_STEP = 'reserve-stock';

/**
 * The order saga: open the order → reserve the stock in both warehouses **atomically** (one 2PC
 * transaction: both hold it, or neither does) → charge the card → confirm the order.
 *
 * - A warehouse with too little stock votes no: the transaction aborts, every warehouse releases
 *   what it held, and the step fails with `TwoPhaseAbortedError` — not retried (a refusal is an
 *   answer) and not compensated (nothing was reserved); the order is cancelled.
 * - When the card is declined after the reservation committed, the saga compensates
 *   `reserve-stock`: each warehouse's `compensate(txId)` puts the allocated stock back on the shelf.
 */
export function orderSaga({
  coordinator,
  warehouses,
  orders,
  payments,
}: OrderSagaDeps): SagaDefinition<OrderContext> {
  return defineSaga<OrderContext>('warehouse-order')
    .step('open-order', {
      execute: ({ context }) => orders.open(context),
      compensate: ({ context }) => orders.cancel(context.orderId),
    })
    .step(
      RESERVE_STEP,
      twoPhaseStep<OrderContext>({
        coordinator,
        // Only the warehouses that ship a line of the order take part (the same set on every attempt).
        participants: (context) =>
          [...new Set(context.lines.map((line) => line.warehouse))].sort().map((name) => warehouses[name]),
        payload: (context): ReservationPayload => ({ orderId: context.orderId, lines: context.lines }),
        onCommitted: ({ context }, result) => {
          context.reservationTx = result.txId;
        },
      }),
    )
    .step('charge-payment', {
      retry: { maxAttempts: 3, initialDelayMs: 100 },
      retryable: (error) => !(error instanceof PaymentDeclinedError),
      execute: ({ context, idempotencyKey }) => {
        context.paymentId = payments.charge(
          idempotencyKey,
          context.orderId,
          context.amount,
          context.card,
        ).paymentId;
      },
      compensate: ({ context }) => {
        if (context.paymentId !== undefined) payments.refund(context.paymentId);
      },
    })
    .step('confirm-order', {
      execute: ({ context }) => orders.confirm(context.orderId, context.paymentId),
    })
    .build();
}
