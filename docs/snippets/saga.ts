// Type-checked code of docs/saga.md.
import { defineSaga, MemorySagaStore, SagaOrchestrator, type SagaState } from 'potter';
import { ManualClock, ManualTimers } from 'potter/testing';

export interface OrderCtx {
  orderId: string;
  amount: number;
  reservationId?: string;
  paymentId?: string;
}

export class CardDeclined extends Error {}

/** Participants that apply each idempotency key once (a real one would keep the keys in its database). */
export class Participants {
  readonly effects = new Map<string, string>();
  readonly log: string[] = [];
  declineAbove = Infinity;

  #once(key: string, effect: string): string {
    if (!this.effects.has(key)) {
      this.effects.set(key, effect);
      this.log.push(effect);
    }
    return this.effects.get(key)!;
  }
  reserve(orderId: string, key: string): string {
    return this.#once(key, `reserved ${orderId}`);
  }
  release(reservation: string, key: string): void {
    this.#once(key, `released (${reservation})`);
  }
  charge(amount: number, key: string): string {
    if (amount > this.declineAbove) throw new CardDeclined(`card declined for ${amount}`);
    return this.#once(key, `charged ${amount}`);
  }
  refund(payment: string, key: string): void {
    this.#once(key, `refunded (${payment})`);
  }
  print(orderId: string, what: string, key: string): void {
    this.#once(key, `${what} for ${orderId}`);
  }
}

export function orderSaga(p: Participants) {
  return defineSaga<OrderCtx>('order')
    .step('reserve', {
      execute: ({ context, idempotencyKey }) => {
        context.reservationId = p.reserve(context.orderId, idempotencyKey);
      },
      compensate: ({ context, idempotencyKey }) => p.release(context.reservationId!, idempotencyKey),
    })
    .step('charge', {
      execute: ({ context, idempotencyKey }) => {
        context.paymentId = p.charge(context.amount, idempotencyKey);
      },
      compensate: ({ context, idempotencyKey }) => p.refund(context.paymentId!, idempotencyKey),
      retry: { maxAttempts: 5, initialDelayMs: 200, maxDelayMs: 5_000 },
      retryable: (error) => !(error instanceof CardDeclined),
      timeoutMs: 10_000,
    })
    .parallel('prepare', [
      {
        name: 'label',
        execute: ({ context, idempotencyKey }) => p.print(context.orderId, 'label', idempotencyKey),
      },
      {
        name: 'invoice',
        execute: ({ context, idempotencyKey }) => p.print(context.orderId, 'invoice', idempotencyKey),
      },
    ])
    .when((context) => context.amount > 1_000, 'review', {
      execute: ({ context, idempotencyKey }) => p.print(context.orderId, 'review', idempotencyKey),
    })
    .timeout(60_000)
    .build();
}

/** Runs one order saga on a manual clock (as in "Testing") and returns its final state. */
export async function runOrder(p: Participants, amount: number): Promise<SagaState<OrderCtx>> {
  const clock = new ManualClock(0);
  const timers = new ManualTimers(clock);
  const orchestrator = new SagaOrchestrator({ clock, timers, store: new MemorySagaStore({ clock }) });
  const handle = await orchestrator.start(
    orderSaga(p),
    { orderId: 'o-1', amount },
    { businessKey: 'order:o-1' },
  );
  await timers.advance(200);
  return handle.result;
}
