import { Command } from 'potter';
import type { OrderLine } from '../order';

/** Sets stock aside for an order. Fails with `OutOfStockError` when a line cannot be served. */
@Command('inventory.ReserveStock')
export class ReserveStock {
  constructor(
    readonly orderId: string,
    readonly lines: OrderLine[],
  ) {}
}

/** Puts an order's reserved stock back on the shelf (nothing happens if nothing is reserved). */
@Command('inventory.ReleaseStock')
export class ReleaseStock {
  constructor(readonly orderId: string) {}
}
