import { Module, SagaModule, type Constructor, type SagaStore } from 'potter';
import { CheckoutSaga } from './checkout.saga';
import { RiskDesk } from './risk/risk-desk';
import { SagaTrace } from './saga-trace.handler';
import { ShopModule } from './shop/shop.module';

/**
 * The root module, built once the saga store is open. The saga class injects the shop's services:
 * `SagaModule.forRoot({ imports: [ShopModule] })` makes them visible to it, as a module's
 * `imports` would.
 */
export function createAppModule(store: SagaStore): Constructor {
  @Module({
    imports: [SagaModule.forRoot({ sagas: [CheckoutSaga], imports: [ShopModule], store })],
    handlers: [RiskDesk, SagaTrace],
  })
  class AppModule {}
  return AppModule;
}
