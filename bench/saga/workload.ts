/**
 * The saga under test: an order of three steps (reserve stock → charge payment → ship), each of
 * whose `execute` only writes its result into the saga context, and the same three steps as plain
 * functions for the baseline.
 */
import { defineSaga, type SagaDefinition } from './potter-saga';

/** The saga data: the order (input) and what each step adds. */
export interface OrderContext {
  orderId: string;
  customerId: string;
  items: { sku: string; quantity: number; unitPriceCents: number }[];
  currency: string;
  /** Set by `reserve`. */
  reservationId?: string;
  /** Set by `charge`. */
  paymentId?: string;
  chargedCents?: number;
  /** Set by `ship`. */
  shipmentId?: string;
}

/** The input of saga number `n`: ~200 characters of JSON. */
export function makeOrder(n: number): OrderContext {
  return {
    orderId: `order-${n}`,
    customerId: `customer-${n % 1000}`,
    items: [
      { sku: `sku-${n % 97}`, quantity: 1 + (n % 3), unitPriceCents: 1299 },
      { sku: `sku-${(n + 13) % 97}`, quantity: 2, unitPriceCents: 450 },
    ],
    currency: 'EUR',
  };
}

/** One step: what it writes into the context, and how to undo it (never needed here). */
export interface BenchStep {
  readonly name: string;
  execute(context: OrderContext): void;
  compensate(context: OrderContext): void;
}

export const STEPS: readonly BenchStep[] = [
  {
    name: 'reserve',
    execute: (c) => {
      c.reservationId = `reservation-${c.orderId}`;
    },
    compensate: (c) => {
      delete c.reservationId;
    },
  },
  {
    name: 'charge',
    execute: (c) => {
      c.chargedCents = c.items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);
      c.paymentId = `payment-${c.orderId}`;
    },
    compensate: (c) => {
      delete c.chargedCents;
      delete c.paymentId;
    },
  },
  {
    name: 'ship',
    execute: (c) => {
      c.shipmentId = `shipment-${c.orderId}`;
    },
    compensate: (c) => {
      delete c.shipmentId;
    },
  },
];

/** The saga definition: the three steps in sequence, no retry, no timeout. */
export function orderSaga(): SagaDefinition<OrderContext> {
  let builder = defineSaga<OrderContext>('bench-order');
  for (const step of STEPS) {
    builder = builder.step(step.name, {
      execute: ({ context }) => step.execute(context),
      compensate: ({ context }) => step.compensate(context),
    });
  }
  return builder.build();
}

/** Throws unless `context` is order `orderId` after all three steps. */
export function checkFinished(label: string, context: OrderContext | undefined): void {
  if (
    context === undefined ||
    context.reservationId !== `reservation-${context.orderId}` ||
    context.paymentId !== `payment-${context.orderId}` ||
    context.shipmentId !== `shipment-${context.orderId}` ||
    typeof context.chargedCents !== 'number'
  ) {
    throw new Error(`${label}: a saga did not run its three steps: ${JSON.stringify(context)}`);
  }
}
