import { TimeoutError, defineSaga, type BackoffOptions } from 'potter';
import { AirlineUnavailableError, BookFlight, CancelFlight } from './airline/airline';
import { CancelCarRental, RentCar } from './cars/car-rental';
import { BookRoom, CancelRoom } from './hotels/hotels';
import { SendItinerary } from './notifications/mailer';
import type { TripContext } from './trip';

/**
 * The airline's retry policy: 4 attempts, waiting 100, 200, then 400 ms between them. Without
 * jitter, so the delays are easy to read in the output; keep the default (`'full'`) in production,
 * so that many sagas retrying at once spread out instead of hammering the airline together.
 */
export const AIRLINE_RETRY: BackoffOptions = {
  maxAttempts: 4,
  initialDelayMs: 100,
  multiplier: 2,
  jitter: 'none',
};

/**
 * Trip booking, written with the builder: the flight, the hotel and the car are booked at the same
 * time (a parallel group); when the three are booked, the itinerary is mailed. If one of the three
 * fails for good, the group fails: the branches that had succeeded are compensated (most recent
 * first) and the itinerary is never sent.
 *
 * Only the airline is retried, and only on its transient failures (a 503, a timeout): a sold-out
 * car is an answer, and retrying it would only delay the compensation.
 */
export const tripBooking = defineSaga<TripContext>('trip-booking')
  .parallel('book-travel', [
    {
      name: 'book-flight',
      retry: AIRLINE_RETRY,
      // A 503, or an attempt that hung: both are worth another try (with the same idempotency key,
      // so a booking that went through before the timeout is not made twice).
      retryable: (error) => error instanceof AirlineUnavailableError || error instanceof TimeoutError,
      // One attempt may take this long; a slower one is abandoned (its signal aborts).
      timeoutMs: 2_000,
      execute: async ({ context, dispatch }) => {
        context.flight = await dispatch<string>(
          new BookFlight(context.tripId, context.from, context.to, context.date),
        );
      },
      compensate: ({ context, dispatch }) => dispatch(new CancelFlight(context.tripId)),
    },
    {
      name: 'book-hotel',
      execute: async ({ context, dispatch }) => {
        context.hotel = await dispatch<string>(
          new BookRoom(context.tripId, context.to, context.date, context.nights),
        );
      },
      compensate: ({ context, dispatch }) => dispatch(new CancelRoom(context.tripId)),
    },
    {
      name: 'rent-car',
      execute: async ({ context, dispatch }) => {
        context.car = await dispatch<string>(
          new RentCar(context.tripId, context.to, context.date, context.nights),
        );
      },
      compensate: ({ context, dispatch }) => dispatch(new CancelCarRental(context.tripId)),
    },
  ])
  .step('send-itinerary', {
    execute: ({ context, dispatch }) =>
      dispatch(
        new SendItinerary(context.tripId, context.traveller, [context.flight!, context.hotel!, context.car!]),
      ),
  })
  .build();
