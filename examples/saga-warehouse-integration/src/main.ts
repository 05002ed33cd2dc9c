/**
 * A saga step that is a two-phase commit: an order saga reserves its stock in two warehouses
 * atomically (both warehouses hold it, or neither does), then charges the card. Everything is kept
 * in PGlite (embedded PostgreSQL, in `.potter/saga-warehouse-integration`), or in PostgreSQL with
 * `--postgres` or POTTER_POSTGRES_URL. Run it with
 * `node build/examples/saga-warehouse-integration/src/main.js` after `npm run build`.
 */
import {
  SETTLED_SAGA_STATUSES,
  SagaOrchestrator,
  TwoPhaseCoordinator,
  UNFINISHED_SAGA_STATUSES,
  bootstrap,
  describeError,
  twoPhaseTxId,
  type SagaState,
} from 'potter';
import { createAppModule } from './app.module';
import { describeLines, type OrderContext, type OrderLine, type WarehouseName } from './order';
import { RESERVE_STEP, orderSaga } from './order.saga';
import { Orders } from './orders';
import { DECLINED_CARD, Payments } from './payments';
import { openDatabase } from './store';
import { Warehouse } from './warehouse';

const PRICES: Readonly<Record<string, number>> = { desk: 180, lamp: 40, chair: 60 };
const GOOD_CARD = '4242424242424242';
/** What each run puts on the shelves before its orders. */
const OPENING_STOCK: Readonly<Record<WarehouseName, Record<string, number>>> = {
  north: { desk: 5, lamp: 10 },
  south: { chair: 10, lamp: 4 },
};

async function main(): Promise<void> {
  console.log('Potter sagas with a two-phase-commit step: reserve stock in two warehouses atomically\n');
  const db = await openDatabase();
  console.log(`Database: ${db.description}`);
  const warehouses = {
    north: new Warehouse('north', db.client, db.schema),
    south: new Warehouse('south', db.client, db.schema),
  };
  const orders = new Orders(db.client, db.schema);
  const payments = new Payments();
  for (const warehouse of Object.values(warehouses)) {
    await warehouse.createTables();
    await warehouse.restock(OPENING_STOCK[warehouse.name]);
  }
  await orders.createTable();

  // The coordinator's log is in the same database; every instance running the saga shares it.
  const coordinator = new TwoPhaseCoordinator({
    log: db.coordinatorLog,
    participants: Object.values(warehouses),
    prepareTimeoutMs: 5_000,
  });
  // Transactions a killed run left unfinished (once their lease expired): finished from the log.
  const recovery = await coordinator.recover();
  if (recovery.recovered.length > 0) {
    console.log(
      `Recovered ${recovery.recovered.length} two-phase transaction(s) an earlier run left unfinished`,
    );
  }

  const definition = orderSaga({ coordinator, warehouses, orders, payments });
  const app = await bootstrap(createAppModule(db.sagaStore, definition));
  app.onError((failure) => console.error(`Event handler failed: ${failure.error.message}`));
  await app.start();
  try {
    const orchestrator = app.resolve(SagaOrchestrator);
    await printStock('Stock', warehouses);

    let next = await nextOrderNumber(orchestrator);
    const order = (customer: string, lines: OrderLine[], card = GOOD_CARD): OrderContext => ({
      orderId: `ord-${next++}`,
      customer,
      lines,
      amount: lines.reduce((sum, { sku, quantity }) => sum + PRICES[sku]! * quantity, 0),
      card,
    });
    const runs: SagaState<OrderContext>[] = [];
    const place = async (title: string, context: OrderContext): Promise<void> => {
      console.log(title);
      console.log(
        `${context.orderId}: ${context.customer} orders ${describeLines(context.lines)} (${context.amount} €)`,
      );
      const handle = await orchestrator.start(definition, context, {
        businessKey: context.orderId,
        correlationId: context.orderId,
      });
      const state = await handle.result;
      runs.push(state);
      console.log(`${outcome(state)}\n`);
    };

    await place(
      '1. Both warehouses have the stock: reserved in both at once, then paid',
      order('ann', [line('desk', 2, 'north'), line('chair', 3, 'south')]),
    );
    await place(
      '2. The south warehouse has too few chairs: it votes no, north releases its hold, nothing is reserved',
      order('bob', [line('desk', 1, 'north'), line('chair', 8, 'south')]),
    );
    await place(
      '3. The card is declined after the reservation committed: the stock goes back to both warehouses',
      order('cleo', [line('lamp', 3, 'north'), line('lamp', 2, 'south')], DECLINED_CARD),
    );

    console.log('End state (read back from the database)');
    for (const warehouse of Object.values(warehouses)) {
      const levels = await warehouse.levels();
      console.log(
        `  stock ${warehouse.name}: ${levels
          .map((l) => `${l.sku} ${l.available} on the shelf, ${l.held} held, ${l.allocated} allocated`)
          .join('; ')}`,
      );
    }
    const holds = await Promise.all(
      Object.values(warehouses).map(async (w) => [w.name, await w.holds()] as const),
    );
    console.log('  per order: holds in each warehouse | coordinator log | saga | order');
    for (const { sagaId, context } of runs) {
      const txId = twoPhaseTxId({ sagaId, step: RESERVE_STEP });
      const held = holds
        .map(([name, byTx]) => `${name} ${byTx.get(txId)?.state ?? 'none'}`.padEnd(15))
        .join(' ');
      const record = await db.coordinatorLog.get(txId);
      const logged =
        record === undefined
          ? 'no transaction'
          : `${record.decision ?? 'undecided'} ${record.completed ? 'completed' : 'unfinished'}`;
      const saga = await orchestrator.store.load(sagaId);
      const undone =
        saga && saga.compensatedSteps.length > 0 ? ` (undone: ${saga.compensatedSteps.join(', ')})` : '';
      console.log(
        `    ${context.orderId}  ${held}| ${logged.padEnd(17)}| ${`${saga?.status ?? 'missing'}${undone}`.padEnd(52)}| ${(await orders.statusOf(context.orderId)) ?? 'none'}`,
      );
    }
    console.log();
  } finally {
    await app.stop();
    coordinator.close();
    await db.close();
  }
  console.log('Stopped; the sagas, the coordinator log and the stock stay in the database');
}

function line(sku: string, quantity: number, warehouse: WarehouseName): OrderLine {
  return { sku, quantity, warehouse };
}

async function printStock(
  title: string,
  warehouses: Readonly<Record<WarehouseName, Warehouse>>,
): Promise<void> {
  for (const warehouse of Object.values(warehouses)) {
    const levels = await warehouse.levels();
    console.log(`${title} ${warehouse.name}: ${levels.map((l) => `${l.available} ${l.sku}`).join(', ')}`);
  }
  console.log();
}

/** `ord-1001 completed: reservation <txId>, payment pay-1` or `ord-1002 compensated (TwoPhaseAbortedError: …): undone open-order`. */
function outcome(state: SagaState<OrderContext>): string {
  const { orderId, reservationTx, paymentId } = state.context;
  if (state.status === 'completed')
    return `${orderId} completed: reservation ${reservationTx}, payment ${paymentId}`;
  const undone = state.compensatedSteps.join(', ') || 'nothing';
  const cause = state.error === undefined ? '' : ` (${state.error.name}: ${state.error.message})`;
  return `${orderId} ${state.status}${cause}: undone ${undone}`;
}

/** The order number after the highest one an earlier run used. */
async function nextOrderNumber(orchestrator: SagaOrchestrator): Promise<number> {
  const sagas = await orchestrator.list([...UNFINISHED_SAGA_STATUSES, ...SETTLED_SAGA_STATUSES]);
  const numbers = sagas
    .filter((saga) => saga.sagaName === 'warehouse-order')
    .map((saga) => Number(/^ord-(\d+)$/.exec(saga.businessKey ?? '')?.[1] ?? 0));
  return Math.max(1000, ...numbers) + 1;
}

main().catch((error: unknown) => {
  console.error(`saga-warehouse-integration failed: ${describeError(error)}`);
  process.exitCode = 1;
});
