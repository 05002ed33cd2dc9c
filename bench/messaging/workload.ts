/**
 * The messages of the messaging benchmark: Potter envelopes with a ~200-character JSON payload
 * carrying a sequence number and the time the publish call started (for end-to-end latency), and
 * the statistics of a run.
 */
import { randomUUID } from 'node:crypto';
import type { MessageEnvelope } from 'potter';
import type { LatencySummary } from './protocol';

/** What the consumer needs from a payload. */
export interface BenchPayload {
  seq: number;
  /** `performance.now()` of the publisher (same process) when the publish call started. */
  sentAt: number;
  orderId: string;
  sku: string;
  quantity: number;
  unitPriceCents: number;
  currency: string;
  warehouse: string;
  note: string;
}

export const MESSAGE_TYPE = 'bench.OrderItemAdded';
const NOTE = 'gift wrap, leave at the front desk, call on arrival';
const CORRELATION_ID = randomUUID();

/** `count` envelopes with sequence numbers `first`…; `sentAt` is set right before publishing. */
export function makeBatch(first: number, count: number): MessageEnvelope<BenchPayload>[] {
  const timestamp = new Date().toISOString();
  const batch = new Array<MessageEnvelope<BenchPayload>>(count);
  for (let i = 0; i < count; i++) {
    const seq = first + i;
    batch[i] = {
      id: randomUUID(),
      type: MESSAGE_TYPE,
      kind: 'event',
      payload: {
        seq,
        sentAt: 0,
        orderId: `order-${seq % 1000}`,
        sku: `SKU-${(seq * 7919) % 100000}`,
        quantity: 1 + (seq % 5),
        unitPriceCents: 1999,
        currency: 'EUR',
        warehouse: 'fra-1',
        note: NOTE,
      },
      metadata: { correlationId: CORRELATION_ID, timestamp, schemaVersion: 1, headers: {} },
    };
  }
  return batch;
}

export function stamp(batch: readonly MessageEnvelope<BenchPayload>[], now: number): void {
  for (const envelope of batch) envelope.payload.sentAt = now;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentiles of the first `count` latencies. */
export function summarizeLatencies(latencies: Float64Array, count: number): LatencySummary {
  const sorted = latencies.slice(0, count).sort();
  const at = (q: number): number => sorted[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))]!;
  let sum = 0;
  for (let i = 0; i < count; i++) sum += sorted[i]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[count - 1]!, mean: sum / count };
}
