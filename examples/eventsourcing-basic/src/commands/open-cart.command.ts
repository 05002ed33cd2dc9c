import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { Command, TypedCommand } from 'potter';

/** Opens a cart; handled by a classic handler class (`OpenCartHandler`). */
@Command()
export class OpenCart extends TypedCommand<void> {
  @IsString()
  @IsNotEmpty()
  readonly cartId: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  readonly customer: string;

  constructor(cartId: string, customer: string) {
    super();
    this.cartId = cartId;
    this.customer = customer;
  }
}
