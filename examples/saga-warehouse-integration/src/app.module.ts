import { Module, SagaModule, type Constructor, type SagaDefinition, type SagaStore } from 'potter';
import type { OrderContext } from './order';
import { SagaTrace } from './saga-trace.handler';

/**
 * The root module, built once the database is open: `SagaModule.forRoot` registers the order saga
 * (a builder definition), provides the `SagaOrchestrator`, publishes the saga events (printed by
 * `SagaTrace`) and resumes the sagas an earlier run left unfinished when the app starts.
 */
export function createAppModule(store: SagaStore, definition: SagaDefinition<OrderContext>): Constructor {
  @Module({
    imports: [SagaModule.forRoot({ definitions: [definition], store })],
    handlers: [SagaTrace],
  })
  class AppModule {}
  return AppModule;
}
