import { Aggregate, AggregateRoot, Apply, Command, CommandHandler, TargetAggregateId } from 'potter';
import { OrderPlaced } from './events';

/** Places an order. */
@Command('orders.PlaceOrder')
export class PlaceOrder {
  @TargetAggregateId() readonly orderId: string;
  constructor(
    orderId: string,
    readonly customer: string,
    readonly total: number,
  ) {
    this.orderId = orderId;
  }
}

/** An order of the order service (stream `Order-<id>`). */
@Aggregate('Order')
export class Order extends AggregateRoot {
  placed = false;

  @CommandHandler(PlaceOrder)
  place(command: PlaceOrder): void {
    if (this.placed) return;
    this.apply(new OrderPlaced(command.orderId, command.customer, command.total));
  }

  @Apply(OrderPlaced)
  onPlaced(): void {
    this.placed = true;
  }
}
