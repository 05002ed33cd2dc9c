import { IsNotEmpty, IsString } from 'class-validator';
import { Command, TargetAggregateId, TypedCommand } from 'potter';

/**
 * Takes every unit of an item out of a cart; answers with the number of items left.
 * Handled by `Cart.removeItem`.
 */
@Command()
export class RemoveItem extends TypedCommand<number> {
  @TargetAggregateId()
  @IsString()
  @IsNotEmpty()
  readonly cartId: string;

  @IsString()
  @IsNotEmpty()
  readonly sku: string;

  constructor(cartId: string, sku: string) {
    super();
    this.cartId = cartId;
    this.sku = sku;
  }
}
