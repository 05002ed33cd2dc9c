import { Aggregate, AggregateRoot, Apply, CommandHandler } from 'potter';
import { CancelOrder, PlaceOrder, ShipOrder } from './commands/order.commands';
import { OrderCancelled, OrderPlaced, OrderShipped } from './events/order.events';

/** An order: placed, then shipped or cancelled. Stream `Order-<id>`. */
@Aggregate('Order')
export class Order extends AggregateRoot {
  status: 'new' | 'placed' | 'shipped' | 'cancelled' = 'new';
  total = 0;

  @CommandHandler(PlaceOrder, { emits: [OrderPlaced] })
  place(command: PlaceOrder): void {
    if (this.status !== 'new') throw new Error(`Order ${this.id} exists already.`);
    this.apply(new OrderPlaced(this.id, command.customer, command.total));
  }

  @CommandHandler(ShipOrder, { emits: [OrderShipped] })
  ship(command: ShipOrder): void {
    if (this.status !== 'placed') throw new Error(`Order ${this.id} is ${this.status}, it cannot ship.`);
    this.apply(new OrderShipped(this.id, command.carrier));
  }

  @CommandHandler(CancelOrder, { emits: [OrderCancelled] })
  cancel(command: CancelOrder): void {
    if (this.status !== 'placed')
      throw new Error(`Order ${this.id} is ${this.status}, it cannot be cancelled.`);
    this.apply(new OrderCancelled(this.id, command.reason, this.total));
  }

  @Apply(OrderPlaced)
  protected onPlaced(event: OrderPlaced): void {
    this.status = 'placed';
    this.total = event.total;
  }

  @Apply(OrderShipped)
  protected onShipped(): void {
    this.status = 'shipped';
  }

  @Apply(OrderCancelled)
  protected onCancelled(): void {
    this.status = 'cancelled';
  }
}
