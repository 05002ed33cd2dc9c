import { CommandHandler, Injectable, type MessageContext } from 'potter';
import { AppliedCommands, idempotencyKeyOf } from '../idempotency';
import { ShipOrder } from './shipping.commands';

/** A domain error: the carrier does not deliver there. */
export class ShippingRefusedError extends Error {
  constructor(
    readonly orderId: string,
    readonly country: string,
  ) {
    super(`The carrier does not deliver to ${country} (${orderId}).`);
    this.name = 'ShippingRefusedError';
  }
}

/** A parcel handed to the carrier. */
export interface Shipment {
  readonly orderId: string;
  readonly country: string;
  readonly trackingNumber: string;
}

/** The shipping service: parcels handed to the carrier, in memory, once per idempotency key. */
@Injectable()
export class Shipping {
  readonly #served = new Set(['FR', 'DE', 'BE', 'NL', 'ES', 'IT']);
  readonly #shipments: Shipment[] = [];
  readonly #applied = new AppliedCommands();

  @CommandHandler(ShipOrder)
  ship(command: ShipOrder, context: MessageContext): string {
    const { result: shipment, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      if (!this.#served.has(command.country))
        throw new ShippingRefusedError(command.orderId, command.country);
      const shipment: Shipment = {
        orderId: command.orderId,
        country: command.country,
        trackingNumber: `TRK-${String(this.#shipments.length + 1).padStart(4, '0')}`,
      };
      this.#shipments.push(shipment);
      return shipment;
    });
    console.log(
      repeated
        ? `  [shipping] ${command.orderId}: already shipped (same idempotency key) as ${shipment.trackingNumber}`
        : `  [shipping] ${command.orderId}: parcel for ${command.country} handed to the carrier, tracking ${shipment.trackingNumber}`,
    );
    return shipment.trackingNumber;
  }

  /** The parcels shipped, for the report at the end. */
  shipments(): Shipment[] {
    return [...this.#shipments];
  }
}
