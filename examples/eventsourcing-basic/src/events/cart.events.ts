import { Event } from 'potter';

/** A cart was opened for a customer. */
@Event('cart.opened')
export class CartOpened {
  constructor(
    readonly cartId: string,
    readonly customer: string,
  ) {}
}

/** Items were put in a cart. */
@Event('cart.item-added')
export class ItemAdded {
  constructor(
    readonly cartId: string,
    readonly sku: string,
    readonly quantity: number,
    readonly unitPrice: number,
  ) {}
}

/** Every unit of an item was taken out of a cart. */
@Event('cart.item-removed')
export class ItemRemoved {
  constructor(
    readonly cartId: string,
    readonly sku: string,
    readonly quantity: number,
  ) {}
}

/** The customer checked the cart out; it takes no more changes. */
@Event('cart.checked-out')
export class CartCheckedOut {
  constructor(
    readonly cartId: string,
    readonly total: number,
  ) {}
}

/** Every event of a cart. */
export type CartEvent = CartOpened | ItemAdded | ItemRemoved | CartCheckedOut;
