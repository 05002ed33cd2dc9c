import { Aggregate, AggregateRoot, Apply, CommandHandler } from 'potter';
import { CartError } from './cart.errors';
import { AddItem } from './commands/add-item.command';
import { RemoveItem } from './commands/remove-item.command';
import { CartCheckedOut, CartOpened, ItemAdded, ItemRemoved } from './events/cart.events';

/** One line of a cart. */
export interface CartLine {
  sku: string;
  quantity: number;
  unitPrice: number;
}

/**
 * A shopping cart, event-sourced: its state is the fold of its events (stream `Cart-<id>`).
 * Behaviour methods check the rules, then `apply` an event; only the `@Apply` methods change state,
 * for new events at once and for stored events when the cart is loaded.
 */
@Aggregate('Cart')
export class Cart extends AggregateRoot {
  customer = '';
  status: 'new' | 'open' | 'checked-out' = 'new';
  lines: CartLine[] = [];

  /** Number of items (units) in the cart. */
  get itemCount(): number {
    return this.lines.reduce((sum, line) => sum + line.quantity, 0);
  }

  get total(): number {
    return this.lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0);
  }

  /** Called by the classic `OpenCartHandler`. */
  open(customer: string): void {
    if (this.status !== 'new') throw new CartError(`Cart ${this.id} exists already.`);
    this.apply(new CartOpened(this.id, customer));
  }

  /** Handles `AddItem` directly: Potter loads the cart, calls this method, then saves. */
  @CommandHandler(AddItem, { emits: [ItemAdded] })
  addItem(command: AddItem): number {
    this.assertOpen();
    this.apply(new ItemAdded(this.id, command.sku, command.quantity, command.unitPrice));
    return this.itemCount;
  }

  @CommandHandler(RemoveItem, { emits: [ItemRemoved] })
  removeItem(command: RemoveItem): number {
    this.assertOpen();
    const line = this.lines.find((l) => l.sku === command.sku);
    if (!line) throw new CartError(`Cart ${this.id} holds no ${command.sku}.`);
    this.apply(new ItemRemoved(this.id, command.sku, line.quantity));
    return this.itemCount;
  }

  /** Called by the classic `CheckOutHandler`; answers with the total. */
  checkOut(): number {
    this.assertOpen();
    if (this.lines.length === 0) throw new CartError(`Cart ${this.id} is empty.`);
    this.apply(new CartCheckedOut(this.id, this.total));
    return this.total;
  }

  private assertOpen(): void {
    if (this.status === 'new') throw new CartError(`Cart ${this.id} does not exist.`);
    if (this.status === 'checked-out') throw new CartError(`Cart ${this.id} is checked out.`);
  }

  @Apply(CartOpened)
  protected onOpened(event: CartOpened): void {
    this.customer = event.customer;
    this.status = 'open';
  }

  @Apply(ItemAdded)
  protected onItemAdded(event: ItemAdded): void {
    const line = this.lines.find((l) => l.sku === event.sku);
    if (line) line.quantity += event.quantity;
    else this.lines.push({ sku: event.sku, quantity: event.quantity, unitPrice: event.unitPrice });
  }

  @Apply(ItemRemoved)
  protected onItemRemoved(event: ItemRemoved): void {
    this.lines = this.lines.filter((l) => l.sku !== event.sku);
  }

  @Apply(CartCheckedOut)
  protected onCheckedOut(): void {
    this.status = 'checked-out';
  }
}
