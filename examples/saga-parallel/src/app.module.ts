import { Module, SagaModule, type Constructor, type SagaStore } from 'potter';
import { Airline } from './airline/airline';
import { CarRental } from './cars/car-rental';
import { Hotels } from './hotels/hotels';
import { Mailer } from './notifications/mailer';
import { SagaTrace } from './saga-trace.handler';
import { tripBooking } from './trip-booking.saga';

/**
 * The root module, built once the saga store is open. A builder definition is registered with
 * `definitions` (a `@Saga` class would go in `sagas`); its steps dispatch commands to the
 * services below through the app's CommandBus.
 */
export function createAppModule(store: SagaStore): Constructor {
  @Module({
    imports: [SagaModule.forRoot({ definitions: [tripBooking], store })],
    handlers: [Airline, Hotels, CarRental, Mailer, SagaTrace],
  })
  class AppModule {}
  return AppModule;
}
