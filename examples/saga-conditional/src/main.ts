/**
 * Sagas with conditional steps: a checkout where the fraud check runs only for large orders and
 * the gift wrap only when asked for, with the skipped steps visible in the events and the stored
 * state; then a checkout that times out waiting for a review, and one the customer cancels. The
 * sagas are kept in PGlite (`.potter/saga-conditional`), or in PostgreSQL with `--postgres` or
 * POTTER_POSTGRES_URL. Run it with `node build/examples/saga-conditional/src/main.js` after
 * `npm run build`.
 */
import {
  SETTLED_SAGA_STATUSES,
  SagaOrchestrator,
  UNFINISHED_SAGA_STATUSES,
  bootstrap,
  describeError,
  type SagaHandle,
  type SagaState,
} from 'potter';
import { createAppModule } from './app.module';
import { REVIEW_THRESHOLD, type CheckoutContext } from './checkout';
import { CHECKOUT_TIMEOUT_MS, CheckoutSaga } from './checkout.saga';
import { DecideReview, RiskDesk } from './risk/risk-desk';
import { Payments } from './shop/payments';
import { Warehouse } from './shop/warehouse';
import { openSagaPersistence } from './store';

async function main(): Promise<void> {
  console.log('Potter sagas: checkout with conditional steps, a deadline and cancellation\n');
  const persistence = await openSagaPersistence();
  console.log(`Saga store: ${persistence.description}`);
  console.log(
    `Rules: orders of ${REVIEW_THRESHOLD} € or more are reviewed by the risk team; a checkout must finish within ${CHECKOUT_TIMEOUT_MS} ms\n`,
  );

  const app = await bootstrap(createAppModule(persistence.sagaStore));
  app.onError((failure) => console.error(`Event handler failed: ${failure.error.message}`));
  await app.start();
  try {
    const orchestrator = app.resolve(SagaOrchestrator);
    const riskDesk = app.resolve(RiskDesk);

    // Earlier runs left their sagas in the store: this run's orders take the next numbers.
    let next = await nextOrderNumber(orchestrator);
    const order = (customer: string, amount: number, giftMessage?: string): CheckoutContext => ({
      orderId: `ord-${next++}`,
      customer,
      amount,
      ...(giftMessage === undefined ? {} : { giftMessage }),
    });
    const runs: SagaState<CheckoutContext>[] = [];
    const checkout = async (
      title: string,
      context: CheckoutContext,
      meanwhile?: (handle: SagaHandle<CheckoutContext>) => Promise<void>,
    ): Promise<void> => {
      console.log(title);
      const gift = context.giftMessage === undefined ? 'no gift wrap' : `gift wrap "${context.giftMessage}"`;
      console.log(`${context.orderId}: ${context.customer}, ${context.amount} €, ${gift}`);
      const handle = await orchestrator.start(CheckoutSaga, context, {
        businessKey: context.orderId,
        correlationId: context.orderId,
      });
      await meanwhile?.(handle);
      const state = await handle.result;
      runs.push(state);
      console.log(`${outcome(state)}\n`);
    };

    await checkout('1. A small order: no fraud check, no gift wrap', order('ann', 80));
    await checkout(
      '2. A small gift: the gift wrap runs, the fraud check does not',
      order('bob', 450, 'Happy birthday!'),
    );
    await checkout(
      '3. A large order: the risk team reviews it and approves',
      order('cleo', 2_500),
      async () => {
        const orderId = `ord-${next - 1}`;
        await riskDesk.requested(orderId);
        await app.commandBus.execute(new DecideReview(orderId, 'approved', 'rita'));
      },
    );
    await checkout(
      `4. Nobody reviews it: after ${CHECKOUT_TIMEOUT_MS} ms the saga times out and is undone (the review request too)`,
      order('dan', 1_800, 'Congratulations'),
    );
    await checkout(
      '5. The customer cancels while the order waits for its review',
      order('eve', 3_200),
      async (handle) => {
        await riskDesk.requested(handle.state.context.orderId);
        const cancelled = await orchestrator.cancel(handle.sagaId, 'the customer cancelled the order');
        console.log(`Cancellation requested: ${cancelled}`);
      },
    );

    console.log('End state');
    const warehouse = app.resolve(Warehouse).report();
    console.log(`  stock reserved for: ${warehouse.reserved.join(', ') || 'none'}`);
    console.log(`  gift-wrapped: ${warehouse.wrapped.join(', ') || 'none'}`);
    for (const payment of app.resolve(Payments).ledger()) {
      console.log(`  payment ${payment.paymentId} ${payment.orderId} ${payment.amount} € ${payment.status}`);
    }
    console.log(`  reviews pending: ${riskDesk.pending().join(', ') || 'none'}`);
    console.log('  sagas of this run, read back from the saga store:');
    for (const { sagaId } of runs) {
      const stored = await orchestrator.store.load(sagaId);
      if (stored === undefined) throw new Error(`Saga ${sagaId} is missing from the store`);
      console.log(
        `    ${String(stored.businessKey).padEnd(9)} ${stored.status.padEnd(12)} done: ${stored.completedSteps.join(', ')}; skipped: ${stored.skippedSteps.join(', ') || 'none'}; undone: ${stored.compensatedSteps.join(', ') || 'none'}`,
      );
    }
    console.log();
  } finally {
    await app.stop();
    await persistence.close();
  }
  console.log('Stopped; the sagas stay in the store: run it again for the next orders');
}

/** How a checkout ended: `ord-1 completed (skipped fraud-check, gift-wrap): payment pay-1`, … */
function outcome(state: SagaState<CheckoutContext>): string {
  const { orderId, paymentId, reviewedBy } = state.context;
  const skipped = state.skippedSteps.length === 0 ? '' : ` (skipped ${state.skippedSteps.join(', ')})`;
  if (state.status === 'completed') {
    return `${orderId} completed${skipped}: payment ${paymentId}${reviewedBy === undefined ? '' : `, approved by ${reviewedBy}`}`;
  }
  const cause = state.error === undefined ? '' : ` (${state.error.name}: ${state.error.message})`;
  return `${orderId} ${state.status}${cause}: undone ${state.compensatedSteps.join(', ') || 'nothing'}`;
}

/** The order number after the highest one an earlier run used. */
async function nextOrderNumber(orchestrator: SagaOrchestrator): Promise<number> {
  const sagas = await orchestrator.list([...UNFINISHED_SAGA_STATUSES, ...SETTLED_SAGA_STATUSES]);
  const numbers = sagas
    .filter((saga) => saga.sagaName === 'checkout')
    .map((saga) => Number(/^ord-(\d+)$/.exec(saga.businessKey ?? '')?.[1] ?? 0));
  return Math.max(0, ...numbers) + 1;
}

main().catch((error: unknown) => {
  console.error(`saga-conditional failed: ${describeError(error)}`);
  process.exitCode = 1;
});
