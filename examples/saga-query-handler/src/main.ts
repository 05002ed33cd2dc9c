/**
 * Saga monitoring: every saga's state and history in a read model, queried on the QueryBus — what
 * an operator's console or an admin API is built on. A few trips and invoices run as sagas (some
 * complete, some fail and compensate, one cannot be compensated), then a report reads them back
 * with `CountSagasByStatus`, `CountSagasByType`, `ListSagas` (paged), `GetSaga`, `GetSagaHistory`, and the app's own
 * `GetFailuresByStep`. PGlite by default (`.potter/saga-query-handler`), PostgreSQL with
 * `--postgres` or POTTER_POSTGRES_URL. Run it with
 * `node build/examples/saga-query-handler/src/main.js` after `npm run build`.
 */
import {
  CountSagasByStatus,
  CountSagasByType,
  GetSaga,
  GetSagaHistory,
  ListSagas,
  QueryBus,
  SagaMonitor,
  SagaOrchestrator,
  bootstrap,
  type SagaDefinition,
  type SagaHistoryEntry,
  type SagaStatusCounts,
  type SagaView,
} from 'potter';
import { createAppModule } from './app.module';
import { GetFailuresByStep } from './failures-by-step.query';
import { invoicing, tripBooking, type InvoiceContext, type TripContext } from './sagas';
import { openSagaPersistence } from './store';

/** `completed 4, compensated 2` (the statuses with sagas only). */
function describeCounts(counts: SagaStatusCounts): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${status} ${n}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

const total = (counts: SagaStatusCounts): number => Object.values(counts).reduce((sum, n) => sum + n, 0);

/** One line of a saga list. */
function describeView(view: SagaView): string {
  const reason = view.error ? `, failed at ${view.error.step ?? '?'}: ${view.error.name}` : '';
  return `${view.sagaId.padEnd(8)} ${view.sagaName.padEnd(13)} ${view.status}${reason}`;
}

/** One line of a saga's history. */
function describeEntry(entry: SagaHistoryEntry): string {
  const what = [
    `#${entry.seq}`.padEnd(4),
    entry.type.padEnd(26),
    entry.step === undefined ? '' : `${entry.step}${entry.attempt === undefined ? '' : ` #${entry.attempt}`}`,
  ]
    .join(' ')
    .trimEnd();
  const took = entry.durationMs === undefined ? '' : `  took ${entry.durationMs} ms`;
  const failure =
    entry.error === undefined ? '' : `  (${entry.error.message}${entry.willRetry ? ', retried' : ''})`;
  return `${what}${took}${failure}`;
}

async function main(): Promise<void> {
  console.log('Potter saga monitoring: the saga read model and its queries on the QueryBus\n');
  const persistence = await openSagaPersistence();
  console.log(`Saga store: ${persistence.description} (saga events recorded with each write)`);

  const app = await bootstrap(createAppModule(persistence.sagaStore));
  app.onError((failure) => console.error(`Handler failed: ${failure.error.message}`));
  await app.start();
  try {
    const orchestrator = app.resolve(SagaOrchestrator);
    const queries = app.resolve(QueryBus);
    // The projection runs in the background: wait until it has applied what was committed.
    const monitor = app.resolve(SagaMonitor);
    await monitor.waitUntilCaughtUp({ timeoutMs: 30_000 });

    // Earlier runs left their sagas in the read model: this run numbers its sagas after them.
    const trips = total(await queries.execute(new CountSagasByStatus({ sagaName: 'trip-booking' })));
    const invoices = total(await queries.execute(new CountSagasByStatus({ sagaName: 'invoicing' })));
    if (trips + invoices > 0) console.log(`${trips + invoices} saga(s) of earlier runs in the read model`);
    const runStartedAt = new Date();

    const run = async <Ctx>(definition: SagaDefinition<Ctx>, id: string, context: Ctx, what: string) => {
      const handle = await orchestrator.start(definition, context, {
        sagaId: id,
        businessKey: id,
        correlationId: id,
      });
      const state = await handle.result;
      console.log(`  ${id.padEnd(8)} ${what.padEnd(52)} -> ${state.status}`);
    };
    const trip = (n: number, traveller: string, trouble: Partial<TripContext> = {}): TripContext => ({
      tripId: `trip-${trips + n}`,
      traveller,
      amount: 900 + n,
      ...trouble,
    });
    const invoice = (n: number, customer: string, trouble: Partial<InvoiceContext> = {}): InvoiceContext => ({
      invoiceId: `inv-${invoices + n}`,
      customer,
      ...trouble,
    });

    console.log('\nRunning sagas');
    const [t1, t2, t3, t4] = [
      trip(1, 'ann'),
      trip(2, 'bob', { declineCard: true }),
      trip(3, 'cleo', { timeoutOnce: true }),
      trip(4, 'dan', { declineCard: true, airlineDown: true }),
    ];
    await run(tripBooking, t1.tripId, t1, 'trip for ann');
    await run(tripBooking, t2.tripId, t2, 'trip for bob: card declined');
    await run(tripBooking, t3.tripId, t3, 'trip for cleo: the payment provider times out once');
    await run(tripBooking, t4.tripId, t4, "trip for dan: card declined, airline won't cancel");
    const [i1, i2, i3] = [invoice(1, 'acme'), invoice(2, 'globex', { bounce: true }), invoice(3, 'initech')];
    await run(invoicing, i1.invoiceId, i1, 'invoice for acme');
    await run(invoicing, i2.invoiceId, i2, 'invoice for globex: the e-mail bounces');
    await run(invoicing, i3.invoiceId, i3, 'invoice for initech');

    // Each saga's events were committed with its last save; the read model follows shortly after.
    const status = await monitor.waitUntilCaughtUp({ timeoutMs: 30_000 });
    console.log(`\nRead model caught up (projection ${status.name})`);
    const thisRun = { startedAfter: runStartedAt };

    console.log('\nCountSagasByStatus (sagas of this run)');
    console.log(`  all           ${describeCounts(await queries.execute(new CountSagasByStatus(thisRun)))}`);
    // One query for every type at once (CountSagasByType), printed in a fixed order.
    const byType = await queries.execute(new CountSagasByType(thisRun));
    for (const sagaName of Object.keys(byType).sort().reverse()) {
      console.log(`  ${sagaName.padEnd(13)} ${describeCounts(byType[sagaName]!)}`);
    }

    console.log('\nListSagas: the failed ones, oldest first, 2 per page');
    let cursor: string | undefined;
    let pageNumber = 0;
    do {
      const page = await queries.execute(
        new ListSagas({
          ...thisRun,
          status: ['failed', 'compensated', 'compensation_failed'],
          sortBy: 'startedAt',
          direction: 'asc',
          limit: 2,
          ...(cursor !== undefined ? { cursor } : {}),
        }),
      );
      pageNumber++;
      console.log(`  page ${pageNumber}${page.nextCursor ? ' (nextCursor: more)' : ' (last page)'}`);
      for (const view of page.items) console.log(`    ${describeView(view)}`);
      cursor = page.nextCursor;
    } while (cursor !== undefined);

    console.log(`\nGetSaga ${t4.tripId}: the one that needs an operator`);
    const stuck = await queries.execute(new GetSaga(t4.tripId));
    if (stuck === undefined) throw new Error(`${t4.tripId} is missing from the read model`);
    console.log(`  status             ${stuck.status} (current step ${stuck.currentStep ?? '-'})`);
    console.log(`  failed because     ${stuck.error?.step}: ${stuck.error?.name}: ${stuck.error?.message}`);
    console.log(`  latest error       ${stuck.lastError?.step}: ${stuck.lastError?.message}`);
    console.log(`  completed steps    ${stuck.completedSteps.join(', ')}`);
    console.log(`  compensated steps  ${stuck.compensatedSteps.join(', ') || '-'}`);
    console.log(
      `  steps              ${Object.entries(stuck.steps)
        // In the order they began (firstSeq): the record's key order is not kept by jsonb.
        .sort(([, a], [, b]) => a.firstSeq - b.firstSeq)
        .map(([name, step]) => `${name} ${step.status}`)
        .join(', ')}`,
    );

    console.log(`\nGetSagaHistory ${t3.tripId}: every event, with how long each attempt took`);
    for (const entry of await queries.execute(new GetSagaHistory(t3.tripId))) {
      console.log(`  ${describeEntry(entry)}`);
    }

    console.log("\nGetFailuresByStep (the app's own query handler, built on ListSagas)");
    for (const group of await queries.execute(new GetFailuresByStep(thisRun))) {
      console.log(
        `  ${group.sagaName}/${group.step}: ${group.sagaIds.length} (${group.sagaIds.join(', ')}) - ${group.lastReason}`,
      );
    }

    console.log(`\nAn operator cancels the flight of ${t4.tripId} by phone and marks the saga resolved`);
    await orchestrator.markResolved(t4.tripId, 'flight cancelled by phone');
    await monitor.waitUntilCaughtUp({ timeoutMs: 30_000 });
    const resolved = await queries.execute(new GetSaga(t4.tripId));
    console.log(`  GetSaga ${t4.tripId}: ${resolved?.status ?? 'missing'}`);
    console.log(
      `  CountSagasByStatus: ${describeCounts(await queries.execute(new CountSagasByStatus(thisRun)))}`,
    );
  } finally {
    await app.stop();
    await persistence.close();
  }
  console.log('\nStopped; the sagas and the read model stay in the store: run it again for more');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
