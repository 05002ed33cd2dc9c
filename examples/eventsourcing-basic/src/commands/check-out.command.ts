import { IsNotEmpty, IsString } from 'class-validator';
import { Command, TypedCommand } from 'potter';

/** Checks a cart out; answers with its total. Handled by a classic handler class (`CheckOutHandler`). */
@Command()
export class CheckOut extends TypedCommand<number> {
  @IsString()
  @IsNotEmpty()
  readonly cartId: string;

  constructor(cartId: string) {
    super();
    this.cartId = cartId;
  }
}
