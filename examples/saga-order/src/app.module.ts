import { Module, SagaModule, type Constructor, type SagaStore } from 'potter';
import { Inventory } from './inventory/inventory.service';
import { OrderFulfilmentSaga } from './order-fulfilment.saga';
import { Payments } from './payments/payments.service';
import { SagaTrace } from './saga-trace.handler';
import { Shipping } from './shipping/shipping.service';

/**
 * The root module, built once the saga store is open. `SagaModule.forRoot` registers the saga
 * class, provides the `SagaOrchestrator` (wired to the app's CommandBus and EventBus), publishes
 * the saga events, and resumes the sagas an earlier run left unfinished when the app starts. The
 * three services are plain `@CommandHandler` classes; `SagaTrace` prints the saga events.
 */
export function createAppModule(store: SagaStore): Constructor {
  @Module({
    imports: [SagaModule.forRoot({ sagas: [OrderFulfilmentSaga], store })],
    handlers: [Inventory, Payments, Shipping, SagaTrace],
  })
  class AppModule {}
  return AppModule;
}
