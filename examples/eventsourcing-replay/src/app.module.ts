import { EventSourcingModule, Module, type Constructor, type EventStore } from 'potter';
import { Order } from './order.aggregate';

/** The root module: the event store and the `Order` aggregate, whose methods handle the commands. */
export function createAppModule(eventStore: EventStore): Constructor {
  @Module({ imports: [EventSourcingModule.forRoot({ aggregates: [Order], eventStore })] })
  class AppModule {}
  return AppModule;
}
