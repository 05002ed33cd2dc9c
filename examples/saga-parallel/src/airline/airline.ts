import { Command, CommandHandler, Injectable, type MessageContext } from 'potter';
import { AppliedCommands, idempotencyKeyOf } from '../idempotency';

/** Books a seat; answers with the booking reference. */
@Command('airline.BookFlight')
export class BookFlight {
  constructor(
    readonly tripId: string,
    readonly from: string,
    readonly to: string,
    readonly date: string,
  ) {}
}

/** Cancels the seat booked for a trip (nothing happens if none was). */
@Command('airline.CancelFlight')
export class CancelFlight {
  constructor(readonly tripId: string) {}
}

/** A transient failure: the airline's booking system is overloaded. Worth retrying. */
export class AirlineUnavailableError extends Error {
  constructor() {
    super('503 Service Unavailable');
    this.name = 'AirlineUnavailableError';
  }
}

/**
 * The airline's booking system, flaky on demand: `failNext(n)` makes the next `n` bookings fail
 * with `AirlineUnavailableError`. Logs each attempt with the time since the trip's first one, so
 * the retry delays show. Applies each command once per idempotency key.
 */
@Injectable()
export class Airline {
  readonly #bookings = new Map<string, string>();
  readonly #applied = new AppliedCommands();
  /** References issued so far (they are never reused). */
  #issued = 0;
  readonly #firstAttemptAt = new Map<string, number>();
  #failures = 0;

  /** The next `count` bookings fail with a 503. */
  failNext(count: number): void {
    this.#failures = count;
  }

  @CommandHandler(BookFlight)
  book(command: BookFlight, context: MessageContext): string {
    const now = Date.now();
    const first = this.#firstAttemptAt.get(command.tripId) ?? now;
    this.#firstAttemptAt.set(command.tripId, first);
    const at = `+${now - first} ms`;
    const { result: reference, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      if (this.#failures > 0) {
        this.#failures--;
        console.log(`  [airline] ${command.tripId} ${at}: 503, overloaded`);
        throw new AirlineUnavailableError();
      }
      const reference = `FL-${++this.#issued}`;
      this.#bookings.set(command.tripId, reference);
      return reference;
    });
    console.log(
      `  [airline] ${command.tripId} ${at}: ${repeated ? 'already booked' : 'booked'} ${reference} ${command.from}->${command.to} on ${command.date}`,
    );
    return reference;
  }

  @CommandHandler(CancelFlight)
  cancel(command: CancelFlight, context: MessageContext): void {
    const { result: reference, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      const reference = this.#bookings.get(command.tripId);
      this.#bookings.delete(command.tripId);
      return reference;
    });
    const what = repeated
      ? 'already cancelled'
      : reference === undefined
        ? 'no seat to cancel'
        : `cancelled ${reference}`;
    console.log(`  [airline] ${command.tripId}: ${what}`);
  }

  /** The seats booked, by trip. */
  bookings(): ReadonlyMap<string, string> {
    return new Map(this.#bookings);
  }
}
