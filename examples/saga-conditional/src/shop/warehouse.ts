import { Injectable } from 'potter';

/**
 * The warehouse: stock reservations and the gift-wrapping desk, called directly by the checkout
 * saga's steps. Every operation takes the step's idempotency key and is applied once per key.
 */
@Injectable()
export class Warehouse {
  /** Reserved orders (amount reserved, for the report). */
  readonly #reserved = new Map<string, number>();
  readonly #wrapped = new Set<string>();
  readonly #applied = new Set<string>();

  reserve(orderId: string, amount: number, idempotencyKey: string): void {
    if (!this.#once(idempotencyKey)) return;
    this.#reserved.set(orderId, amount);
    console.log(`  [warehouse] ${orderId}: items reserved`);
  }

  release(orderId: string, idempotencyKey: string): void {
    if (!this.#once(idempotencyKey)) return;
    const had = this.#reserved.delete(orderId);
    console.log(`  [warehouse] ${orderId}: ${had ? 'items back on the shelf' : 'nothing reserved'}`);
  }

  wrap(orderId: string, message: string, idempotencyKey: string): void {
    if (!this.#once(idempotencyKey)) return;
    this.#wrapped.add(orderId);
    console.log(`  [warehouse] ${orderId}: gift-wrapped, card says "${message}"`);
  }

  unwrap(orderId: string, idempotencyKey: string): void {
    if (!this.#once(idempotencyKey)) return;
    if (this.#wrapped.delete(orderId)) console.log(`  [warehouse] ${orderId}: gift wrap removed`);
  }

  /** The orders holding stock, and the gift-wrapped ones. */
  report(): { reserved: string[]; wrapped: string[] } {
    return { reserved: [...this.#reserved.keys()], wrapped: [...this.#wrapped] };
  }

  /** True the first time `key` is seen. */
  #once(key: string): boolean {
    if (this.#applied.has(key)) return false;
    this.#applied.add(key);
    return true;
  }
}
