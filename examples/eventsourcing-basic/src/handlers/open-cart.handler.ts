import { AggregateRepository, CommandHandler, InjectRepository } from 'potter';
import { Cart } from '../cart.aggregate';
import { OpenCart } from '../commands/open-cart.command';
import { CartOpened } from '../events/cart.events';

/** A classic command handler: it works on the aggregate through its repository. */
@CommandHandler(OpenCart, { emits: [CartOpened] })
export class OpenCartHandler {
  constructor(@InjectRepository(Cart) private readonly carts: AggregateRepository<Cart>) {}

  async execute(command: OpenCart): Promise<void> {
    const cart = this.carts.create(command.cartId); // a new cart at version 0
    cart.open(command.customer);
    // Expects version 0: if the cart was opened meanwhile, this raises ConcurrencyError.
    await this.carts.save(cart);
  }
}
