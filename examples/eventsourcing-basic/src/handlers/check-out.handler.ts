import { AggregateRepository, CommandHandler, InjectRepository, retryOnConflict } from 'potter';
import { Cart } from '../cart.aggregate';
import { CheckOut } from '../commands/check-out.command';
import { CartCheckedOut } from '../events/cart.events';

/**
 * A classic handler that reruns its unit of work on a concurrency conflict: `retryOnConflict` loads
 * the cart again, checks out again and saves again (up to 5 attempts, with backoff).
 */
@CommandHandler(CheckOut, { emits: [CartCheckedOut] })
export class CheckOutHandler {
  constructor(@InjectRepository(Cart) private readonly carts: AggregateRepository<Cart>) {}

  execute(command: CheckOut): Promise<number> {
    return retryOnConflict(async () => {
      const cart = await this.carts.load(command.cartId); // AggregateNotFoundError if it has no event
      const total = cart.checkOut();
      await this.carts.save(cart);
      return total;
    });
  }
}
