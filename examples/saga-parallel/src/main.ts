/**
 * Sagas with a parallel group: a trip's flight, hotel and car are booked at the same time; a flaky
 * airline is retried with exponential backoff; when one booking fails for good, the ones that
 * succeeded are cancelled. The sagas are kept in PGlite (`.potter/saga-parallel`), or in
 * PostgreSQL with `--postgres` or POTTER_POSTGRES_URL. Run it with
 * `node build/examples/saga-parallel/src/main.js` after `npm run build`.
 */
import {
  SETTLED_SAGA_STATUSES,
  SagaOrchestrator,
  UNFINISHED_SAGA_STATUSES,
  bootstrap,
  describeError,
  type SagaState,
} from 'potter';
import { Airline } from './airline/airline';
import { createAppModule } from './app.module';
import { CarRental } from './cars/car-rental';
import { Hotels } from './hotels/hotels';
import { openSagaPersistence } from './store';
import type { TripContext } from './trip';
import { AIRLINE_RETRY, tripBooking } from './trip-booking.saga';

async function main(): Promise<void> {
  console.log('Potter sagas: trip booking (flight + hotel + car in parallel, then the itinerary)\n');
  const persistence = await openSagaPersistence();
  console.log(`Saga store: ${persistence.description}`);
  console.log(
    `Airline retry policy: ${AIRLINE_RETRY.maxAttempts} attempts, ${AIRLINE_RETRY.initialDelayMs} ms then x${AIRLINE_RETRY.multiplier} between them\n`,
  );

  const app = await bootstrap(createAppModule(persistence.sagaStore));
  app.onError((failure) => console.error(`Event handler failed: ${failure.error.message}`));
  await app.start();
  try {
    const orchestrator = app.resolve(SagaOrchestrator);
    const airline = app.resolve(Airline);
    const hotels = app.resolve(Hotels);
    const cars = app.resolve(CarRental);

    // Earlier runs left their sagas in the store: this run's trips take the next numbers.
    let next = await nextTripNumber(orchestrator);
    const trip = (traveller: string, to: string): TripContext => ({
      tripId: `trip-${next++}`,
      traveller,
      from: 'Paris',
      to,
      date: '2026-06-01',
      nights: 4,
    });
    const runs: SagaState<TripContext>[] = [];
    const book = async (title: string, context: TripContext): Promise<void> => {
      console.log(title);
      console.log(
        `${context.tripId}: ${context.traveller}, ${context.from} -> ${context.to} on ${context.date}, ${context.nights} nights`,
      );
      const handle = await orchestrator.start(tripBooking, context, {
        businessKey: context.tripId,
        correlationId: context.tripId,
      });
      const state = await handle.result;
      runs.push(state);
      console.log(`${outcome(state)}\n`);
    };

    airline.failNext(2);
    await book(
      '1. The airline answers 503 twice: book-flight is retried, 100 ms then 200 ms later',
      trip('ann', 'Lisbon'),
    );

    cars.soldOutIn('Porto');
    await book(
      '2. No car left in Porto: the flight and the hotel, already booked, are cancelled',
      trip('bob', 'Porto'),
    );

    airline.failNext(AIRLINE_RETRY.maxAttempts!);
    await book(
      '3. The airline stays down: after 4 attempts book-flight gives up; the hotel and the car are cancelled',
      trip('cleo', 'Seville'),
    );

    console.log('End state');
    const list = (bookings: ReadonlyMap<string, string>): string =>
      [...bookings].map(([tripId, reference]) => `${reference} (${tripId})`).join(', ') || 'none';
    console.log(`  flights booked: ${list(airline.bookings())}`);
    console.log(`  rooms booked:   ${list(hotels.bookings())}`);
    console.log(`  cars rented:    ${list(cars.rentals())}`);
    console.log('  sagas of this run, read back from the saga store:');
    for (const { sagaId } of runs) {
      const stored = await orchestrator.store.load(sagaId);
      if (stored === undefined) throw new Error(`Saga ${sagaId} is missing from the store`);
      // In definition order (the store keeps the state as jsonb, which does not keep key order).
      const attempts = tripBooking.stepNames
        .filter((step) => stored.attempts[step] !== undefined)
        .map((step) => `${step} x${stored.attempts[step]}`)
        .join(', ');
      console.log(
        `    ${String(stored.businessKey).padEnd(7)} ${stored.status.padEnd(12)} attempts: ${attempts}; undone: ${stored.compensatedSteps.join(', ') || 'nothing'}`,
      );
    }
    console.log();
  } finally {
    await app.stop();
    await persistence.close();
  }
  console.log('Stopped; the sagas stay in the store: run it again for the next trips');
}

/** `trip-1 completed: FL-1, HT-1, CR-1` or `trip-2 compensated (NoCarAvailableError): undone …`. */
function outcome(state: SagaState<TripContext>): string {
  const { tripId, flight, hotel, car } = state.context;
  if (state.status === 'completed') return `${tripId} completed: flight ${flight}, room ${hotel}, car ${car}`;
  const cause = state.error === undefined ? '' : ` (${state.error.name})`;
  return `${tripId} ${state.status}${cause}: undone ${state.compensatedSteps.join(', ') || 'nothing'}`;
}

/** The trip number after the highest one an earlier run used. */
async function nextTripNumber(orchestrator: SagaOrchestrator): Promise<number> {
  const sagas = await orchestrator.list([...UNFINISHED_SAGA_STATUSES, ...SETTLED_SAGA_STATUSES]);
  const numbers = sagas
    .filter((saga) => saga.sagaName === tripBooking.name)
    .map((saga) => Number(/^trip-(\d+)$/.exec(saga.businessKey ?? '')?.[1] ?? 0));
  return Math.max(0, ...numbers) + 1;
}

main().catch((error: unknown) => {
  console.error(`saga-parallel failed: ${describeError(error)}`);
  process.exitCode = 1;
});
