import { Module, SagaModule, type Constructor, type SagaStore } from 'potter';
import { GetFailuresByStepHandler } from './failures-by-step.query';
import { invoicing, tripBooking } from './sagas';

/**
 * The root module. With a saga store that records events (`SqlSagaStore.for(eventStore)`),
 * `SagaModule.forRoot` turns monitoring on by itself: it runs the `potter.sagas` projection into
 * the read model beside the event store, registers the saga queries (`GetSaga`, `ListSagas`,
 * `GetSagaHistory`, `CountSagasByStatus`) on the QueryBus, and provides `SagaMonitor`. The app adds
 * its own query handler on top.
 */
export function createAppModule(store: SagaStore): Constructor {
  @Module({
    imports: [SagaModule.forRoot({ definitions: [tripBooking, invoicing], store })],
    handlers: [GetFailuresByStepHandler],
  })
  class AppModule {}
  return AppModule;
}
