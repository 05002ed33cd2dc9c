/**
 * The stored events and the read model every variant builds from them: the event store benchmark's
 * events (a ~215-character JSON payload plus envelope metadata), in orders of `events / streams`
 * events each, and a read model of one summary document per customer. Customers are spread over
 * the log round-robin, so every batch touches up to `batchSize` different documents, the way a
 * projection over many interleaved streams does, while the events can still be appended in big
 * batches (one call per order).
 */
import { randomUUID } from 'node:crypto';
import { AGGREGATE_TYPE, makeEvent, type BenchEvent, type ItemAddedPayload } from '../eventstore/workload';

export { EVENT_TYPE, type ItemAddedPayload } from '../eventstore/workload';

/** A customer's read-model document. */
export interface CustomerSummary {
  [field: string]: unknown;
  customerId: string;
  items: number;
  quantity: number;
  amountCents: number;
}

/** The id of customer `c`: as long as the UUID the event store benchmark puts there (36 characters). */
export function customerId(c: number): string {
  return `customer-${String(c).padStart(27, '0')}`;
}

/** One planned append: all events of one order stream. */
export interface SeedCall {
  streamId: string;
  events: BenchEvent[];
}

/**
 * The appends that store the run's events: `streams` orders of `events / streams` events, the
 * `g`-th event overall (in plan order) for customer `g % customers`.
 */
export function planSeed(events: number, streams: number, customers: number): SeedCall[] {
  const perStream = events / streams;
  const calls: SeedCall[] = [];
  for (let s = 0; s < streams; s++) {
    const orderId = randomUUID();
    const correlationId = randomUUID();
    const batch: BenchEvent[] = [];
    for (let seq = 0; seq < perStream; seq++) {
      const g = s * perStream + seq;
      const event = makeEvent(g, correlationId);
      batch.push({ ...event, payload: { ...event.payload, orderId, customerId: customerId(g % customers) } });
    }
    calls.push({ streamId: `${AGGREGATE_TYPE}-${orderId}`, events: batch });
  }
  return calls;
}

/** The fold of one event into its customer's summary (the same in every variant). */
export function fold(doc: CustomerSummary | undefined, event: ItemAddedPayload): CustomerSummary {
  return {
    customerId: event.customerId,
    items: (doc?.items ?? 0) + 1,
    quantity: (doc?.quantity ?? 0) + event.quantity,
    amountCents: (doc?.amountCents ?? 0) + event.quantity * event.unitPriceCents,
  };
}

/** The read model a run must end with: the fold of every planned event, by customer id. */
export function expectedSummaries(events: number, customers: number): Map<string, CustomerSummary> {
  const expected = new Map<string, CustomerSummary>();
  for (let g = 0; g < events; g++) {
    // The fields of makeEvent(g) the fold reads.
    const id = customerId(g % customers);
    const payload = { customerId: id, quantity: (g % 9) + 1, unitPriceCents: 1000 + (g % 9000) };
    expected.set(id, fold(expected.get(id), payload as ItemAddedPayload));
  }
  return expected;
}

/** Throws unless `actual` holds exactly the expected documents. */
export function checkSummaries(
  label: string,
  actual: Iterable<CustomerSummary>,
  expected: Map<string, CustomerSummary>,
): void {
  let count = 0;
  for (const doc of actual) {
    count++;
    const want = expected.get(doc.customerId);
    if (
      !want ||
      want.items !== doc.items ||
      want.quantity !== doc.quantity ||
      want.amountCents !== doc.amountCents
    ) {
      throw new Error(`${label}: read model has ${JSON.stringify(doc)}, expected ${JSON.stringify(want)}`);
    }
  }
  if (count !== expected.size) {
    throw new Error(`${label}: read model has ${count} documents, expected ${expected.size}`);
  }
}
