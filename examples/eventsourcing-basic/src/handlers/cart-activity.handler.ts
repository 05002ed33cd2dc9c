import { EventHandler, type MessageContext } from 'potter';
import { CartCheckedOut, CartOpened, ItemAdded, ItemRemoved, type CartEvent } from '../events/cart.events';

/**
 * Reacts to committed events: the repository publishes a cart's new events on the event bus after
 * they are stored, so a save that fails (a conflict, a broken rule) publishes nothing.
 */
@EventHandler([CartOpened, ItemAdded, ItemRemoved, CartCheckedOut])
export class CartActivityLog {
  handle(event: CartEvent, context: MessageContext): void {
    console.log(`  [event] ${context.type} ${event.cartId}: ${describe(event)}`);
  }
}

function describe(event: CartEvent): string {
  if (event instanceof CartOpened) return `opened for ${event.customer}`;
  if (event instanceof ItemAdded) return `+${event.quantity} ${event.sku} at ${event.unitPrice}`;
  if (event instanceof ItemRemoved) return `-${event.quantity} ${event.sku}`;
  return `checked out, total ${event.total}`;
}
