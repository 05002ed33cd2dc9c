import { EventSourcingModule, Module, type Constructor, type EventStore } from 'potter';
import { Cart } from './cart.aggregate';
import { CartActivityLog } from './handlers/cart-activity.handler';
import { CheckOutHandler } from './handlers/check-out.handler';
import { CheckoutConfirmation } from './handlers/checkout-confirmation.handler';
import { OpenCartHandler } from './handlers/open-cart.handler';

/**
 * The root module, built once the event store is open. `EventSourcingModule.forRoot` provides the
 * store, one repository per aggregate (`@InjectRepository(Cart)`), and wires `Cart`'s
 * `@CommandHandler` methods (`Cart.addItem`, `Cart.removeItem`).
 */
export function createAppModule(eventStore: EventStore): Constructor {
  @Module({
    imports: [EventSourcingModule.forRoot({ aggregates: [Cart], eventStore })],
    handlers: [OpenCartHandler, CheckOutHandler, CartActivityLog, CheckoutConfirmation],
  })
  class AppModule {}
  return AppModule;
}
