/**
 * Replay: two days of orders are written, then replayed (a) all of them into a read model, with
 * progress, (b) one order's stream, (c) a filtered set — event types plus a stream prefix, and a
 * position range. PGlite by default (`.potter/eventsourcing-replay`), PostgreSQL when
 * POTTER_POSTGRES_URL is set.
 */
import {
  START,
  bootstrap,
  describeError,
  replayEvents,
  replayStream,
  type EventStore,
  type GlobalPosition,
  type ReplayProgress,
} from 'potter';
import { createAppModule } from './app.module';
import { CancelOrder, PlaceOrder, ShipOrder } from './commands/order.commands';
import { OrderPlaced } from './events/order.events';
import { SalesReport } from './read-models/sales-report';
import { createStore } from './store';

async function main(): Promise<void> {
  console.log('Potter event sourcing: replay\n');
  const store = await createStore();
  const eventStore = store.eventStore;
  console.log(`Event store: ${store.description}`);

  try {
    const before = await scanLog(eventStore);
    console.log(
      before.count === 0
        ? 'The log is empty\n'
        : `The log already holds ${before.count} events from earlier runs\n`,
    );

    // Order numbers continue after earlier runs' orders; the id carries the region.
    const first = await firstFreeOrderNumber(eventStore);
    const id = (offset: number): string => `${offset % 2 === 0 ? 'eu' : 'us'}-${first + offset}`;

    // The app writes the events through the Order aggregate; replay needs only the event store.
    const app = await bootstrap(createAppModule(eventStore));
    await app.start();
    let endOfDay1: GlobalPosition;
    try {
      const run = (command: object): Promise<unknown> => app.commandBus.execute(command);
      console.log('Day 1: three orders placed, one shipped');
      await run(new PlaceOrder(id(0), 'ann', 120));
      await run(new PlaceOrder(id(1), 'bob', 80));
      await run(new PlaceOrder(id(2), 'cleo', 45));
      await run(new ShipOrder(id(0), 'dhl'));
      endOfDay1 = (await scanLog(eventStore)).position;
      console.log('Day 2: two more placed, two shipped, one cancelled');
      await run(new PlaceOrder(id(3), 'dan', 200));
      await run(new ShipOrder(id(1), 'ups'));
      await run(new CancelOrder(id(2), 'changed mind'));
      await run(new PlaceOrder(id(4), 'eve', 60));
      await run(new ShipOrder(id(4), 'dhl'));
    } finally {
      await app.stop();
    }
    const endOfDay2 = await scanLog(eventStore);
    console.log(
      `Wrote ${endOfDay2.count - before.count} events for orders ${[0, 1, 2, 3, 4].map(id).join(', ')}; the log holds ${endOfDay2.count}\n`,
    );

    console.log('(a) Replay everything into a SalesReport read model, in batches of 4');
    const everything = new SalesReport();
    const all = await replayEvents(eventStore, everything, { batchSize: 4, onProgress: printProgress });
    console.log(`Replayed ${all.processed} events: ${everything.summary()}\n`);

    const streamId = `Order-${id(0)}`;
    console.log(`(b) Replay one aggregate's stream: ${streamId}`);
    const count = await replayStream(eventStore, streamId, (event, recorded) => {
      console.log(`  v${recorded.streamVersion} ${recorded.type.padEnd(15)} ${JSON.stringify(event)}`);
    });
    console.log(`Replayed ${count} events of ${streamId}\n`);

    console.log("(c1) Replay a filtered set: event type order.placed in streams starting with 'Order-eu-'");
    const euOrders: string[] = [];
    let euRevenue = 0;
    const eu = await replayEvents(
      eventStore,
      (event) => {
        if (!(event instanceof OrderPlaced)) return;
        euOrders.push(event.orderId);
        euRevenue += event.total;
      },
      { eventTypes: ['order.placed'], streamIdPrefix: 'Order-eu-', onProgress: printProgress },
    );
    console.log(
      `Replayed ${eu.processed} events: EU orders placed ${euOrders.join(', ')}, worth ${euRevenue}\n`,
    );

    console.log('(c2) Replay a position range: after the end of day 1, until the end of day 2');
    console.log(`  after ${endOfDay1}\n  until ${endOfDay2.position}`);
    const day2 = new SalesReport();
    const range = await replayEvents(eventStore, day2, {
      after: endOfDay1,
      until: endOfDay2.position,
      onProgress: printProgress,
    });
    console.log(`Replayed ${range.processed} events: ${day2.summary()}\n`);
  } finally {
    await store.eventStore.close();
  }
  console.log('Event store closed');
}

function printProgress(progress: ReplayProgress): void {
  const last = progress.last;
  console.log(
    `  progress: ${progress.processed} events${last ? `, last ${last.type} of ${last.streamId} v${last.streamVersion}` : ''}`,
  );
}

/** Reads the whole log once: how many events it holds, and the position of its end. */
async function scanLog(eventStore: EventStore): Promise<{ count: number; position: GlobalPosition }> {
  let position = START;
  let count = 0;
  for (;;) {
    const batch = await eventStore.readAll({ after: position, limit: 1_000 });
    count += batch.events.length;
    position = batch.position;
    if (batch.endOfLog || batch.events.length === 0) return { count, position };
  }
}

/** Each run places five orders numbered from 1001; later runs continue the numbering. */
async function firstFreeOrderNumber(eventStore: EventStore): Promise<number> {
  let first = 1001;
  while ((await eventStore.streamInfo(`Order-eu-${first}`)) !== undefined) first += 5;
  return first;
}

main().catch((error: unknown) => {
  console.error(`eventsourcing-replay failed: ${describeError(error)}`);
  process.exitCode = 1;
});
