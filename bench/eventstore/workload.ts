/**
 * The data every system stores and reads: the same events (a ~215-byte JSON payload plus envelope
 * metadata), the same streams, the same fold.
 */
import { randomUUID } from 'node:crypto';
import type { AppendSpec } from './protocol';

/** Type name of every benchmark event. */
export const EVENT_TYPE = 'BenchItemAdded';
/** Aggregate type: streams are named `BenchOrder-<id>`, as Potter's `AggregateRepository` names them. */
export const AGGREGATE_TYPE = 'BenchOrder';
/** Id of the aggregate whose stream is seeded with `streamEvents` events for the read and load tasks. */
export const SEEDED_AGGREGATE_ID = 'seeded';
export const SEEDED_STREAM_ID = `${AGGREGATE_TYPE}-${SEEDED_AGGREGATE_ID}`;

/** The event payload: 215 characters of JSON for every event (fixed-width fields). */
export type ItemAddedPayload = {
  orderId: string;
  customerId: string;
  sku: string;
  quantity: number;
  unitPriceCents: number;
  currency: string;
  warehouse: string;
  note: string;
};

export const PAYLOAD_JSON_CHARS = 215;

/** An event as the writer has it, before a store maps it to its own input format. */
export interface BenchEvent {
  type: string;
  payload: ItemAddedPayload;
  /** Envelope ids, set the same way for every system (Potter fills the rest of its metadata). */
  correlationId: string;
  causationId: string;
}

/** The `seq`-th event of a stream (0-based): its quantity is `seq % 9 + 1`, so folds can be checked. */
export function makeEvent(seq: number, correlationId: string): BenchEvent {
  return {
    type: EVENT_TYPE,
    payload: {
      orderId: randomUUID(),
      customerId: randomUUID(),
      sku: `SKU-${String(seq % 1_000_000).padStart(6, '0')}`,
      quantity: (seq % 9) + 1,
      unitPriceCents: 1000 + (seq % 9000),
      currency: 'EUR',
      warehouse: 'AMS-2',
      note: 'gift wrapped',
    },
    correlationId,
    causationId: randomUUID(),
  };
}

/**
 * The envelope metadata stored with each event by the raw baseline and Emmett: the shape Potter
 * stores (`MessageMetadata`), so every system writes rows of the same size.
 */
export function envelopeMetadata(event: BenchEvent, timestamp: string): Record<string, unknown> {
  return {
    correlationId: event.correlationId,
    timestamp,
    schemaVersion: 1,
    headers: {},
    causationId: event.causationId,
  };
}

/** The state every system folds a stream into. */
export interface OrderState {
  count: number;
  quantity: number;
  /** Version of the last event folded. */
  version: number;
}

export function initialState(): OrderState {
  return { count: 0, quantity: 0, version: 0 };
}

/** The state after folding the events `0 … n-1` of a stream made by {@link makeEvent}. */
export function expectedState(n: number): OrderState {
  let quantity = 0;
  for (let seq = 0; seq < n; seq++) quantity += (seq % 9) + 1;
  return { count: n, quantity, version: n };
}

export function checkState(label: string, actual: OrderState, expected: OrderState): void {
  if (
    actual.count !== expected.count ||
    actual.quantity !== expected.quantity ||
    actual.version !== expected.version
  ) {
    throw new Error(`${label}: folded ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

/** One planned `appendToStream` call. */
export interface PlannedCall {
  streamId: string;
  events: BenchEvent[];
}

/**
 * The calls of an append workload, per writer, with events generated up front (outside the timed
 * part). Writer `w` owns streams `<prefix>-w<w>-s<k>`; its call `i` goes to stream `i % streamsPerWriter`.
 */
export function planAppends(spec: AppendSpec, prefix: string, callsPerWriter: number): PlannedCall[][] {
  const writers: PlannedCall[][] = [];
  for (let w = 0; w < spec.writers; w++) {
    const calls: PlannedCall[] = [];
    const seqs = new Map<string, number>();
    for (let i = 0; i < callsPerWriter; i++) {
      const streamId = `${AGGREGATE_TYPE}-${prefix}-w${w}-s${i % spec.streamsPerWriter}`;
      const correlationId = randomUUID();
      let seq = seqs.get(streamId) ?? 0;
      const events: BenchEvent[] = [];
      for (let e = 0; e < spec.batchSize; e++) events.push(makeEvent(seq++, correlationId));
      seqs.set(streamId, seq);
      calls.push({ streamId, events });
    }
    writers.push(calls);
  }
  return writers;
}

/** The events of the seeded stream, in calls of `batchSize`. */
export function planSeed(events: number, batchSize: number): PlannedCall[] {
  const calls: PlannedCall[] = [];
  for (let seq = 0; seq < events;) {
    const correlationId = randomUUID();
    const batch: BenchEvent[] = [];
    for (let e = 0; e < batchSize && seq < events; e++) batch.push(makeEvent(seq++, correlationId));
    calls.push({ streamId: SEEDED_STREAM_ID, events: batch });
  }
  return calls;
}
