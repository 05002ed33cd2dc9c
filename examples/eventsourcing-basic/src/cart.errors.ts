/**
 * A domain rule of carts was broken. Thrown by `Cart`, it reaches the caller of `commandBus.execute`
 * unchanged, and nothing is stored.
 */
export class CartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CartError';
  }
}
