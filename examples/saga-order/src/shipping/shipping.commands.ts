import { Command } from 'potter';
import type { OrderLine } from '../order';

/** Hands an order to the carrier; answers with the tracking number. */
@Command('shipping.ShipOrder')
export class ShipOrder {
  constructor(
    readonly orderId: string,
    readonly country: string,
    readonly lines: OrderLine[],
  ) {}
}
