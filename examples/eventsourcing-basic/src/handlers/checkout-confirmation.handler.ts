import { EventHandler } from 'potter';
import { CartCheckedOut } from '../events/cart.events';

/** A side effect of a committed checkout: a real app would send an e-mail or start a shipping saga. */
@EventHandler(CartCheckedOut)
export class CheckoutConfirmation {
  handle(event: CartCheckedOut): void {
    console.log(`  [reaction] order confirmation for ${event.cartId}: total ${event.total}`);
  }
}
