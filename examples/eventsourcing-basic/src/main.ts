/**
 * Event sourcing, the basics: a shopping cart whose state is the fold of its events, stored in
 * PGlite (embedded PostgreSQL, in `.potter/eventsourcing-basic`) or in PostgreSQL when
 * POTTER_POSTGRES_URL is set. Run it with `node build/examples/eventsourcing-basic/src/main.js`
 * after `npm run build`.
 */
import {
  ConcurrencyError,
  EVENT_STORE,
  bootstrap,
  describeError,
  repositoryToken,
  retryOnConflict,
  type EventStore,
} from 'potter';
import { createAppModule } from './app.module';
import { Cart } from './cart.aggregate';
import { CartError } from './cart.errors';
import { AddItem } from './commands/add-item.command';
import { CheckOut } from './commands/check-out.command';
import { OpenCart } from './commands/open-cart.command';
import { RemoveItem } from './commands/remove-item.command';
import { createStore } from './store';

async function main(): Promise<void> {
  console.log('Potter event sourcing, the basics: a shopping cart\n');
  const store = await createStore();
  console.log(`Event store: ${store.description}`);

  const app = await bootstrap(createAppModule(store.eventStore));
  app.onError((failure) => console.error(`Event handler failed: ${failure.error.message}`));
  await app.start();
  try {
    const eventStore = app.resolve(EVENT_STORE);
    const carts = app.resolve(repositoryToken(Cart));

    // Earlier runs left their carts in the store: this run takes the next free id.
    const cartId = await nextFreeId(eventStore, 'cart', (id) => carts.streamId(id));
    console.log(`This run's cart: ${cartId} (stream ${carts.streamId(cartId)})\n`);

    console.log('1. Open the cart (a classic handler using @InjectRepository(Cart))');
    await app.commandBus.execute(new OpenCart(cartId, 'ann'));
    console.log(`Opened ${cartId}\n`);

    console.log('2. Add items (@CommandHandler methods on Cart, routed by @TargetAggregateId)');
    await app.commandBus.execute(new AddItem(cartId, 'apple', 3, 2));
    const items = await app.commandBus.execute(new AddItem(cartId, 'bread', 1, 4));
    console.log(`${cartId} holds ${items} items\n`);

    console.log('3. Remove an item the cart does not hold: a domain error, nothing is stored');
    try {
      await app.commandBus.execute(new RemoveItem(cartId, 'milk'));
      console.log('Unexpected: the removal went through');
    } catch (error) {
      if (!(error instanceof CartError)) throw error;
      console.log(`Refused: ${error.name}: ${error.message}\n`);
    }

    console.log('4. Two writers load the same cart and both save (optimistic concurrency)');
    const writerA = await carts.load(cartId);
    const writerB = await carts.load(cartId);
    console.log(`  writer A loaded v${writerA.version}, writer B loaded v${writerB.version}`);
    writerA.addItem(new AddItem(cartId, 'cheese', 1, 6));
    await carts.save(writerA);
    console.log(`  writer A saved: ${cartId} is at v${writerA.version}`);
    writerB.addItem(new AddItem(cartId, 'wine', 1, 9));
    try {
      await carts.save(writerB);
      console.log('Unexpected: writer B saved over writer A');
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      const { expectedVersion, actualVersion } = error.details;
      console.log(
        `  writer B refused: ${error.code} (expected v${String(expectedVersion)}, stream at v${String(actualVersion)})`,
      );
      console.log('Writer B wrote nothing and published nothing\n');
    }

    console.log('5. retryOnConflict reruns load -> change -> save after a conflict');
    const saved = await retryOnConflict(async (attempt) => {
      const cart = await carts.load(cartId);
      console.log(`  attempt ${attempt}: loaded v${cart.version}`);
      if (attempt === 1) {
        console.log('  meanwhile another writer adds an item');
        await app.commandBus.execute(new AddItem(cartId, 'milk', 2, 1));
      }
      cart.addItem(new AddItem(cartId, 'wine', 1, 9));
      try {
        await carts.save(cart);
      } catch (error) {
        if (error instanceof ConcurrencyError) console.log(`  attempt ${attempt}: ${error.code}, retrying`);
        throw error;
      }
      return cart.version;
    });
    console.log(`Saved at v${saved}\n`);

    console.log('6. Five AddItem commands at once: AddItem is idempotent, so Potter retries conflicts');
    const results = await Promise.allSettled(
      ['pears', 'plums', 'figs', 'kiwis', 'limes'].map((sku) =>
        app.commandBus.execute(new AddItem(cartId, sku, 1, 3)),
      ),
    );
    const landed = results.filter((r) => r.status === 'fulfilled').length;
    const afterBurst = await carts.load(cartId);
    console.log(
      `${landed} of 5 landed: ${cartId} is at v${afterBurst.version} with ${afterBurst.itemCount} items\n`,
    );

    console.log('7. Check out (a classic handler wrapping its unit of work in retryOnConflict)');
    const total = await app.commandBus.execute(new CheckOut(cartId));
    console.log(`Checked out ${cartId}: total ${total}\n`);

    console.log(`8. Read the stream back: ${carts.streamId(cartId)}`);
    const events = await eventStore.readStream(carts.streamId(cartId));
    for (const event of events) {
      console.log(
        `  ${`v${event.streamVersion}`.padEnd(4)} ${event.type.padEnd(17)} ${JSON.stringify(event.payload)}`,
      );
    }
    const reloaded = await carts.load(cartId);
    console.log(
      `${events.length} events; loading folds them into ${cartId} at v${reloaded.version}: ${reloaded.status}, ${reloaded.itemCount} items, total ${reloaded.total}\n`,
    );
  } finally {
    await app.stop();
    await store.eventStore.close();
  }
  console.log('Stopped; event store closed');
}

/** The first id `<prefix>-<n>` whose stream does not exist yet. */
async function nextFreeId(
  eventStore: EventStore,
  prefix: string,
  streamIdOf: (id: string) => string,
): Promise<string> {
  for (let n = 1; ; n++) {
    const id = `${prefix}-${n}`;
    if ((await eventStore.streamInfo(streamIdOf(id))) === undefined) return id;
  }
}

main().catch((error: unknown) => {
  console.error(`eventsourcing-basic failed: ${describeError(error)}`);
  process.exitCode = 1;
});
