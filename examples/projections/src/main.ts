/**
 * Projections: orders are written through the `Order` aggregate, then the app starts and its two
 * projections catch up from the event log into SQL read models (exactly-once: the checkpoint
 * commits with the read-model writes). Then a blue/green rebuild of `order-summaries` builds a new
 * generation next to the live one and switches readers when it has caught up. PGlite by default
 * (`.potter/projections`), PostgreSQL when POTTER_POSTGRES_URL is set.
 */
import {
  READ_MODELS,
  ProjectionEngine,
  START,
  bootstrap,
  describeError,
  type EventStore,
  type ProjectionStatus,
  type ReadModelStore,
} from 'potter';
import { createAppModule } from './app.module';
import { CancelOrder, PlaceOrder, ShipOrder } from './commands/order.commands';
import { CUSTOMER_TOTALS, type CustomerTotal } from './projections/customer-totals.projection';
import { ORDER_SUMMARIES, OrderSummaries, type OrderSummary } from './projections/order-summaries.projection';
import { createStore } from './store';

async function main(): Promise<void> {
  console.log('Potter projections\n');
  const store = await createStore();
  const eventStore = store.eventStore;
  console.log(`Event store: ${store.description}`);

  try {
    const before = await countEvents(eventStore);
    console.log(
      before === 0 ? 'The log is empty\n' : `The log already holds ${before} events from earlier runs\n`,
    );
    const first = await firstFreeOrderNumber(eventStore);
    const ids = Array.from({ length: 6 }, (_, i) => String(first + i));

    const app = await bootstrap(createAppModule(eventStore));
    try {
      // Commands can be sent before app.start(): the events are stored, the projections are not running yet.
      const run = (command: object): Promise<unknown> => app.commandBus.execute(command);
      const [a, b, c, d, e, f] = ids as [string, string, string, string, string, string];
      await run(new PlaceOrder(a, 'ann', 120));
      await run(new PlaceOrder(b, 'bob', 80));
      await run(new PlaceOrder(c, 'ann', 45));
      await run(new PlaceOrder(d, 'cleo', 200));
      await run(new ShipOrder(a, 'dhl'));
      await run(new ShipOrder(d, 'ups'));
      await run(new CancelOrder(c, 'changed mind'));
      await run(new PlaceOrder(e, 'bob', 60));
      await run(new PlaceOrder(f, 'dan', 30));
      await run(new ShipOrder(e, 'dhl'));
      const written = (await countEvents(eventStore)) - before;
      console.log(
        `Wrote ${written} events for orders ${ids.join(', ')} (the projections are not running yet)`,
      );

      await app.start();
      const engine = app.resolve(ProjectionEngine);
      const readModels = app.resolve(READ_MODELS);
      console.log(`Started the app: projections ${engine.names.join(', ')} catch up from their checkpoints`);
      for (const name of engine.names)
        printStatus(await engine.waitUntilCaughtUp(name, { timeoutMs: 30_000 }));

      console.log(`\nRead model ${ORDER_SUMMARIES} (this run's orders):`);
      const shown = await printOrders(readModels, ids);
      console.log(`  ${await readModels.collection(ORDER_SUMMARIES).count()} orders in all`);
      const totals = await readModels
        .collection<CustomerTotal>(CUSTOMER_TOTALS)
        .find({}, { orderBy: 'customer', limit: 100 });
      console.log(
        `Read model ${CUSTOMER_TOTALS}: ${totals.map((t) => `${t.customer} ${t.spent} (${t.orders})`).join(', ')}`,
      );
      const summaries = app.resolve(OrderSummaries);
      console.log(`Shipping notifications sent: ${summaries.notifications.length}`);

      console.log('\nBlue/green rebuild of order-summaries: readers keep the live generation meanwhile');
      const generation = (await engine.status('order-summaries')).generation;
      const sentBefore = summaries.notifications.length;
      const started = Date.now();
      await engine.rebuild('order-summaries', { blueGreen: true });
      const rebuilt = await engine.waitUntilCaughtUp('order-summaries', { timeoutMs: 60_000 });
      console.log(
        `Rebuilt in ${Date.now() - started} ms: generation ${generation} → ${rebuilt.generation}, ${rebuilt.shadow ? 'still building' : 'swapped'}`,
      );
      printStatus(await engine.status('order-summaries'));
      const again = await printOrders(readModels, ids, false);
      console.log(`Read model after the rebuild: ${again === shown ? 'the same' : 'DIFFERENT'}`);
      console.log(
        `Shipping notifications sent during the rebuild: ${summaries.notifications.length - sentBefore} (@SkipOnReplay)`,
      );
    } finally {
      await app.stop();
    }
  } finally {
    await eventStore.close();
  }
  console.log('\nEvent store closed. Now try the CLI (with this app stopped when on PGlite):');
  console.log('  node bin/potter.js projections list --config examples/projections/potter.config.json');
}

function printStatus(status: ProjectionStatus): void {
  console.log(
    `  ${status.name}: ${status.status}, generation ${status.generation}, lag ${status.lag ?? 0}, ${status.parked} parked, ${status.delivery} delivery`,
  );
}

/** Prints (or only renders) the summaries of `ids`; returns the text, to compare. */
async function printOrders(readModels: ReadModelStore, ids: string[], print = true): Promise<string> {
  const collection = readModels.collection<OrderSummary>(ORDER_SUMMARIES);
  const lines: string[] = [];
  for (const id of ids) {
    const doc = await collection.get(id);
    if (!doc) {
      lines.push(`  ${id}  missing`);
      continue;
    }
    const detail =
      doc.status === 'shipped'
        ? ` with ${doc.carrier}`
        : doc.status === 'cancelled'
          ? `, refunded ${doc.refunded}`
          : '';
    lines.push(
      `  ${doc.orderId}  ${doc.customer.padEnd(5)} ${String(doc.total).padStart(4)}  ${doc.status}${detail}`,
    );
  }
  if (print) for (const line of lines) console.log(line);
  return lines.join('\n');
}

async function countEvents(eventStore: EventStore): Promise<number> {
  let position = START;
  let count = 0;
  for (;;) {
    const batch = await eventStore.readAll({ after: position, limit: 1_000 });
    count += batch.events.length;
    if (batch.endOfLog || batch.events.length === 0) return count;
    position = batch.position;
  }
}

/** Each run places six orders numbered from 1001; later runs continue the numbering. */
async function firstFreeOrderNumber(eventStore: EventStore): Promise<number> {
  let first = 1001;
  while ((await eventStore.streamInfo(`Order-${first}`)) !== undefined) first += 6;
  return first;
}

main().catch((error: unknown) => {
  console.error(`projections example failed: ${describeError(error)}`);
  process.exitCode = 1;
});
