import { IsNotEmpty, IsPositive, IsString } from 'class-validator';
import { Command, TargetAggregateId } from 'potter';

/** Places an order. Handled by `Order.place`. */
@Command()
export class PlaceOrder {
  @TargetAggregateId()
  @IsString()
  @IsNotEmpty()
  readonly orderId: string;

  @IsString()
  @IsNotEmpty()
  readonly customer: string;

  @IsPositive()
  readonly total: number;

  constructor(orderId: string, customer: string, total: number) {
    this.orderId = orderId;
    this.customer = customer;
    this.total = total;
  }
}

/** Ships a placed order. Handled by `Order.ship`. */
@Command()
export class ShipOrder {
  @TargetAggregateId()
  @IsString()
  @IsNotEmpty()
  readonly orderId: string;

  @IsString()
  @IsNotEmpty()
  readonly carrier: string;

  constructor(orderId: string, carrier: string) {
    this.orderId = orderId;
    this.carrier = carrier;
  }
}

/** Cancels a placed order that has not shipped. Handled by `Order.cancel`. */
@Command()
export class CancelOrder {
  @TargetAggregateId()
  @IsString()
  @IsNotEmpty()
  readonly orderId: string;

  @IsString()
  @IsNotEmpty()
  readonly reason: string;

  constructor(orderId: string, reason: string) {
    this.orderId = orderId;
    this.reason = reason;
  }
}
