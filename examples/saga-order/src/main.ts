/**
 * Sagas, the order-fulfilment way: reserve stock → charge the card → ship, each step a command to
 * a service, undone in reverse order when a later step fails. The sagas are kept in PGlite
 * (embedded PostgreSQL, in `.potter/saga-order`), or in PostgreSQL with `--postgres` or
 * POTTER_POSTGRES_URL. Run it with `node build/examples/saga-order/src/main.js` after `npm run build`.
 */
import {
  SETTLED_SAGA_STATUSES,
  SagaConflictError,
  SagaOrchestrator,
  UNFINISHED_SAGA_STATUSES,
  bootstrap,
  describeError,
  type SagaState,
} from 'potter';
import { createAppModule } from './app.module';
import { Inventory, describeLines } from './inventory/inventory.service';
import { OrderFulfilmentSaga } from './order-fulfilment.saga';
import type { OrderContext, OrderLine } from './order';
import { Payments } from './payments/payments.service';
import { Shipping } from './shipping/shipping.service';
import { openSagaPersistence } from './store';

const PRICES: Readonly<Record<string, number>> = { lamp: 40, desk: 180, chair: 60 };
const GOOD_CARD = '4242424242424242';
const DECLINED_CARD = '4000000000000002';

async function main(): Promise<void> {
  console.log('Potter sagas: order fulfilment (reserve stock -> charge payment -> ship)\n');
  const persistence = await openSagaPersistence();
  console.log(`Saga store: ${persistence.description}`);

  // Sagas an earlier run left unfinished (it was killed mid-way): starting the app resumes them,
  // once the lease of the process that ran them has expired (30 s by default).
  const unfinished = await persistence.sagaStore.list();
  if (unfinished.length > 0) {
    console.log(`${unfinished.length} unfinished saga(s) from an earlier run: the orchestrator resumes them`);
  }

  const app = await bootstrap(createAppModule(persistence.sagaStore));
  app.onError((failure) => console.error(`Event handler failed: ${failure.error.message}`));
  await app.start();
  try {
    const orchestrator = app.resolve(SagaOrchestrator);
    const inventory = app.resolve(Inventory);
    const payments = app.resolve(Payments);
    const shipping = app.resolve(Shipping);

    // Earlier runs left their sagas in the store: this run's orders take the next numbers.
    let next = await nextOrderNumber(orchestrator);
    const order = (customer: string, lines: OrderLine[], card: string, country: string): OrderContext => ({
      orderId: `ord-${next++}`,
      customer,
      lines,
      amount: lines.reduce((sum, { sku, quantity }) => sum + PRICES[sku]! * quantity, 0),
      card,
      country,
    });
    console.log(
      `Stock: ${inventory
        .levels()
        .map((level) => `${level.available} ${level.sku}`)
        .join(', ')}\n`,
    );

    const runs: SagaState<OrderContext>[] = [];
    const fulfil = async (title: string, context: OrderContext): Promise<void> => {
      console.log(title);
      console.log(describeOrder(context));
      const handle = await orchestrator.start(OrderFulfilmentSaga, context, {
        // One open saga per order; the order id also correlates every command and event.
        businessKey: context.orderId,
        correlationId: context.orderId,
      });
      const state = await handle.result;
      runs.push(state);
      console.log(`${outcome(state)}\n`);
    };

    await fulfil(
      '1. Everything goes through',
      order('ann', [line('lamp', 2), line('desk', 1)], GOOD_CARD, 'FR'),
    );
    await fulfil(
      '2. The card is declined: the stock is released',
      order('bob', [line('chair', 4)], DECLINED_CARD, 'DE'),
    );
    await fulfil(
      '3. The carrier refuses the parcel: refund, then release (reverse order)',
      order('cleo', [line('desk', 1), line('chair', 2)], GOOD_CARD, 'US'),
    );
    payments.loseNextAnswer();
    await fulfil(
      "4. The provider's answer is lost: charge-payment times out and is retried, the card is charged once",
      order('dan', [line('lamp', 1)], GOOD_CARD, 'NL'),
    );

    console.log(
      "5. One open saga per order (business key): while the provider is slow, the customer clicks 'Buy' again",
    );
    const fifth = order('eve', [line('chair', 1)], GOOD_CARD, 'BE');
    console.log(describeOrder(fifth));
    // The saga stays open for these 300 ms at least: the second start meets it.
    payments.delayNextAnswer(300);
    const options = { businessKey: fifth.orderId, correlationId: fifth.orderId };
    const handle = await orchestrator.start(OrderFulfilmentSaga, fifth, options);
    try {
      await orchestrator.start(OrderFulfilmentSaga, fifth, options);
      console.log('Unexpected: a second saga started for the same order');
    } catch (error) {
      if (!(error instanceof SagaConflictError)) throw error;
      console.log(`Second start refused: ${error.code}`);
    }
    const joined = await orchestrator.start(OrderFulfilmentSaga, fifth, { ...options, onConflict: 'join' });
    console.log(
      `Start with onConflict 'join': ${joined.sagaId === handle.sagaId ? 'the same saga' : 'another saga'}`,
    );
    const fifthState = await handle.result;
    runs.push(fifthState);
    console.log(`${outcome(fifthState)}\n`);

    console.log('End state');
    for (const level of inventory.levels()) {
      console.log(
        `  stock ${level.sku.padEnd(5)} ${level.available} on the shelf, ${level.reserved} allocated to orders`,
      );
    }
    for (const payment of payments.ledger()) {
      console.log(`  payment ${payment.paymentId} ${payment.orderId} ${payment.amount} € ${payment.status}`);
    }
    for (const shipment of shipping.shipments()) {
      console.log(`  parcel ${shipment.trackingNumber} ${shipment.orderId} to ${shipment.country}`);
    }
    console.log(`  sagas of this run, read back from the saga store (${persistence.description}):`);
    for (const { sagaId } of runs) {
      const stored = await orchestrator.store.load(sagaId);
      if (stored === undefined) throw new Error(`Saga ${sagaId} is missing from the store`);
      const undone =
        stored.compensatedSteps.length > 0 ? `; undone: ${stored.compensatedSteps.join(', ')}` : '';
      console.log(
        `    ${String(stored.businessKey).padEnd(9)} ${stored.status.padEnd(12)} done: ${stored.completedSteps.join(', ')}${undone}`,
      );
    }
    console.log();
  } finally {
    await app.stop();
    await persistence.close();
  }
  console.log('Stopped; the sagas stay in the store: run it again for the next orders');
}

/** `ord-1001: ann orders 2 lamp, 1 desk (260 €), card •••• 4242, to FR`. */
function describeOrder(context: OrderContext): string {
  const card = `•••• ${context.card.slice(-4)}`;
  return `${context.orderId}: ${context.customer} orders ${describeLines(context.lines)} (${context.amount} €), card ${card}, to ${context.country}`;
}

function line(sku: string, quantity: number): OrderLine {
  return { sku, quantity };
}

/** `ord-1001 completed: payment pay-1, parcel TRK-0001` or `ord-1002 compensated (PaymentDeclinedError): undone reserve-stock`. */
function outcome(state: SagaState<OrderContext>): string {
  const { orderId, paymentId, trackingNumber } = state.context;
  if (state.status === 'completed')
    return `${orderId} completed: payment ${paymentId}, parcel ${trackingNumber}`;
  const undone = state.compensatedSteps.join(', ') || 'nothing';
  const cause = state.error === undefined ? '' : ` (${state.error.name})`;
  return `${orderId} ${state.status}${cause}: undone ${undone}`;
}

/** The order number after the highest one an earlier run used. */
async function nextOrderNumber(orchestrator: SagaOrchestrator): Promise<number> {
  const sagas = await orchestrator.list([...UNFINISHED_SAGA_STATUSES, ...SETTLED_SAGA_STATUSES]);
  const numbers = sagas
    .filter((saga) => saga.sagaName === 'order-fulfilment')
    .map((saga) => Number(/^ord-(\d+)$/.exec(saga.businessKey ?? '')?.[1] ?? 0));
  return Math.max(1000, ...numbers) + 1;
}

main().catch((error: unknown) => {
  console.error(`saga-order failed: ${describeError(error)}`);
  process.exitCode = 1;
});
