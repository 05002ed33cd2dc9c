import { EventSourcingModule, Module, ProjectionsModule, type Constructor } from 'potter';
import { SqlProjectionStore, SqlReadModelStore, type SqlEventStore } from 'potter/pglite';
import { Order } from './order.aggregate';
import { CustomerTotals } from './projections/customer-totals.projection';
import { OrderSummaries } from './projections/order-summaries.projection';
import { createStore } from './store';

/**
 * The root module: the `Order` aggregate on the event store, and two projections whose
 * checkpoints and read models live in the event store's database (same client, same schema), so
 * their delivery is transactional — exactly-once effect.
 */
export function createAppModule(eventStore: SqlEventStore): Constructor {
  @Module({
    imports: [
      EventSourcingModule.forRoot({ aggregates: [Order], eventStore }),
      ProjectionsModule.forRoot({
        projections: [OrderSummaries, CustomerTotals],
        store: SqlProjectionStore.for(eventStore),
        readModels: SqlReadModelStore.for(eventStore),
      }),
    ],
  })
  class AppModule {}
  return AppModule;
}

/**
 * The app as the `potter` CLI loads it (see `potter.config.json`): the store is opened first,
 * then the module is built on it; the CLI bootstraps it without starting it, and calls `close`
 * when done.
 */
export async function createApp(): Promise<{ module: Constructor; close: () => Promise<void> }> {
  const store = await createStore();
  return { module: createAppModule(store.eventStore), close: () => store.eventStore.close() };
}
