import { IsInt, IsNotEmpty, IsPositive, IsString } from 'class-validator';
import { Command, TargetAggregateId, TypedCommand } from 'potter';

/**
 * Puts items in a cart; answers with the number of items in it. Handled by `Cart.addItem`: Potter
 * loads the cart named by the `@TargetAggregateId()` field, calls the method and saves.
 *
 * `idempotent: true` tells Potter that rerunning the whole load → addItem → save cycle is safe, so
 * a concurrency conflict (another writer saved the cart in between) is retried instead of surfaced.
 */
@Command({ idempotent: true })
export class AddItem extends TypedCommand<number> {
  @TargetAggregateId()
  @IsString()
  @IsNotEmpty()
  readonly cartId: string;

  @IsString()
  @IsNotEmpty()
  readonly sku: string;

  @IsInt()
  @IsPositive()
  readonly quantity: number;

  @IsPositive()
  readonly unitPrice: number;

  constructor(cartId: string, sku: string, quantity: number, unitPrice: number) {
    super();
    this.cartId = cartId;
    this.sku = sku;
    this.quantity = quantity;
    this.unitPrice = unitPrice;
  }
}
