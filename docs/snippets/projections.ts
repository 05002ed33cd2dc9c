// Type-checked code of docs/projections.md.
import {
  Event,
  EventHandler,
  EventSourcingModule,
  Module,
  Projection,
  ProjectionEngine,
  ProjectionsModule,
  READ_MODELS,
  SkipOnReplay,
  applyOnce,
  type ProjectionContext,
  type ProjectionMaintenanceContext,
  type ReadModelStore,
} from 'potter';
import { createPostgresEventStore, SqlProjectionStore, SqlReadModelStore } from 'potter/postgres';

@Event('order.placed')
export class OrderPlaced {
  constructor(
    readonly orderId: string,
    readonly customer: string,
    readonly total: number,
  ) {}
}

@Event('order.shipped')
export class OrderShipped {
  constructor(readonly orderId: string) {}
}

export interface OrderSummary extends Record<string, unknown> {
  orderId: string;
  customer: string;
  total: number;
  status: 'placed' | 'shipped';
}

// --- a projection on the read-model store -------------------------------------------------------
@Projection('order-summaries', { batchSize: 500, onError: 'park' })
export class OrderSummaries {
  @EventHandler(OrderPlaced)
  async placed(event: OrderPlaced, ctx: ProjectionContext): Promise<void> {
    await ctx.readModel<OrderSummary>('order_summaries').put(event.orderId, {
      orderId: event.orderId,
      customer: event.customer,
      total: event.total,
      status: 'placed',
    });
  }

  @EventHandler(OrderShipped)
  async shipped(event: OrderShipped, ctx: ProjectionContext): Promise<void> {
    await ctx
      .readModel<OrderSummary>('order_summaries')
      .update(event.orderId, (doc) => (doc ? { ...doc, status: 'shipped' } : doc));
  }

  @EventHandler(OrderShipped)
  @SkipOnReplay() // never again for old events during a reset or rebuild
  async tellCustomer(event: OrderShipped): Promise<void> {
    await mailer.send(event.orderId, 'Your order is on its way');
  }
}

declare const mailer: { send(orderId: string, text: string): Promise<void> };

// --- a projection writing its own SQL, in the checkpoint's transaction --------------------------
@Projection('revenue-by-customer')
export class RevenueByCustomer {
  @EventHandler(OrderPlaced)
  async placed(event: OrderPlaced, ctx: ProjectionContext): Promise<void> {
    await ctx.transaction!.query(
      `INSERT INTO app.revenue_g${ctx.generation} (customer, total) VALUES ($1, $2)
       ON CONFLICT (customer) DO UPDATE SET total = app.revenue_g${ctx.generation}.total + EXCLUDED.total`,
      [event.customer, event.total],
    );
  }

  async reset(ctx: ProjectionMaintenanceContext): Promise<void> {
    await ctx.transaction!.query(
      `CREATE TABLE IF NOT EXISTS app.revenue_g${ctx.generation} (customer text PRIMARY KEY, total numeric NOT NULL)`,
    );
    await ctx.transaction!.query(`TRUNCATE app.revenue_g${ctx.generation}`);
  }

  async dropGeneration(ctx: ProjectionMaintenanceContext): Promise<void> {
    await ctx.transaction!.query(`DROP TABLE IF EXISTS app.revenue_g${ctx.generation}`);
  }
}

// --- an at-least-once projection made idempotent ------------------------------------------------
@Projection('customer-totals', { delivery: 'at-least-once' })
export class CustomerTotals {
  @EventHandler(OrderPlaced)
  async placed(event: OrderPlaced, ctx: ProjectionContext): Promise<void> {
    await ctx
      .readModel<{ total: number }>('customer_totals')
      .update(event.customer, (doc) =>
        applyOnce(doc, ctx.event, (current) => ({ total: (current?.total ?? 0) + event.total })),
      );
  }
}

// --- wiring --------------------------------------------------------------------------------------
export async function appModule(): Promise<Function> {
  const eventStore = await createPostgresEventStore({ connectionString: process.env['POTTER_POSTGRES_URL'] });
  @Module({
    imports: [
      EventSourcingModule.forRoot({ aggregates: [], eventStore }),
      ProjectionsModule.forRoot({
        projections: [OrderSummaries, CustomerTotals],
        store: SqlProjectionStore.for(eventStore), // checkpoints, leases, parked events
        readModels: SqlReadModelStore.for(eventStore), // same database: exactly-once
      }),
    ],
  })
  class AppModule {}
  return AppModule;
}

// --- reading and operating -------------------------------------------------------------------------
export async function operate(engine: ProjectionEngine, readModels: ReadModelStore): Promise<void> {
  const summaries = readModels.collection<OrderSummary>('order_summaries');
  await summaries.get('o-1');
  await summaries.findBy('customer', 'ada', { orderBy: 'total', direction: 'desc', limit: 20 });

  const status = await engine.status('order-summaries');
  console.log(status.state, status.lag, status.throughput, status.lastError);

  await engine.rebuild('order-summaries', { blueGreen: true }); // readers keep the old model meanwhile
  await engine.waitUntilCaughtUp('order-summaries', { timeoutMs: 600_000 });

  for (const parked of await engine.parked('order-summaries')) console.log(parked.streamId, parked.reason);
  await engine.retryParked('order-summaries'); // after deploying the fix
}

export { READ_MODELS };
