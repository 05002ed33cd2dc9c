import { CommandHandler, Injectable, type MessageContext } from 'potter';
import { AppliedCommands, idempotencyKeyOf } from '../idempotency';
import type { OrderLine } from '../order';
import { ReleaseStock, ReserveStock } from './inventory.commands';

/** A domain error: the shelf holds less than the order asks for. */
export class OutOfStockError extends Error {
  constructor(
    readonly sku: string,
    readonly requested: number,
    readonly available: number,
  ) {
    super(`Only ${available} ${sku} left, ${requested} requested.`);
    this.name = 'OutOfStockError';
  }
}

/** Stock of one product. */
export interface StockLevel {
  readonly sku: string;
  readonly available: number;
  readonly reserved: number;
}

/**
 * The inventory service: stock levels and reservations, in memory. Each command is applied once
 * per idempotency key (the saga's `potter-idempotency-key` header), so a step retried or re-run
 * after a crash reserves — or releases — once.
 */
@Injectable()
export class Inventory {
  readonly #available = new Map<string, number>([
    ['lamp', 10],
    ['desk', 3],
    ['chair', 8],
  ]);
  /** Reserved lines, by order. */
  readonly #reservations = new Map<string, OrderLine[]>();
  readonly #applied = new AppliedCommands();

  @CommandHandler(ReserveStock)
  reserve(command: ReserveStock, context: MessageContext): void {
    const { repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      for (const { sku, quantity } of command.lines) {
        const available = this.#available.get(sku) ?? 0;
        if (available < quantity) throw new OutOfStockError(sku, quantity, available);
      }
      for (const { sku, quantity } of command.lines) {
        this.#available.set(sku, this.#available.get(sku)! - quantity);
      }
      this.#reservations.set(command.orderId, [...command.lines]);
    });
    console.log(
      repeated
        ? `  [inventory] ${command.orderId}: reservation already made (same idempotency key), nothing changes`
        : `  [inventory] ${command.orderId}: reserved ${describeLines(command.lines)}`,
    );
  }

  @CommandHandler(ReleaseStock)
  release(command: ReleaseStock, context: MessageContext): void {
    const { result: lines, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      const reserved = this.#reservations.get(command.orderId) ?? [];
      for (const { sku, quantity } of reserved) {
        this.#available.set(sku, (this.#available.get(sku) ?? 0) + quantity);
      }
      this.#reservations.delete(command.orderId);
      return reserved;
    });
    if (repeated) {
      console.log(
        `  [inventory] ${command.orderId}: already released (same idempotency key), nothing changes`,
      );
    } else if (lines.length === 0) {
      // A compensation may run for a step whose effect is unknown (it timed out): then it finds nothing.
      console.log(`  [inventory] ${command.orderId}: nothing reserved, nothing to release`);
    } else {
      console.log(`  [inventory] ${command.orderId}: released ${describeLines(lines)}`);
    }
  }

  /** The stock of every product, for the report at the end. */
  levels(): StockLevel[] {
    return [...this.#available].map(([sku, available]) => ({
      sku,
      available,
      reserved: [...this.#reservations.values()]
        .flat()
        .filter((line) => line.sku === sku)
        .reduce((sum, line) => sum + line.quantity, 0),
    }));
  }
}

/** `2 lamp, 1 desk`. */
export function describeLines(lines: readonly OrderLine[]): string {
  return lines.map(({ sku, quantity }) => `${quantity} ${sku}`).join(', ');
}
