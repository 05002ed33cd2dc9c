import { setTimeout as sleep } from 'node:timers/promises';
import { Command, CommandHandler, Injectable, type MessageContext } from 'potter';
import { AppliedCommands, idempotencyKeyOf } from '../idempotency';

/** Rents a car at the destination; answers with the rental reference. */
@Command('cars.RentCar')
export class RentCar {
  constructor(
    readonly tripId: string,
    readonly city: string,
    readonly from: string,
    readonly days: number,
  ) {}
}

/** Cancels the car rented for a trip (nothing happens if none was). */
@Command('cars.CancelCarRental')
export class CancelCarRental {
  constructor(readonly tripId: string) {}
}

/** A domain error: no car left at that place and date. Retrying will not help. */
export class NoCarAvailableError extends Error {
  constructor(
    readonly city: string,
    readonly from: string,
  ) {
    super(`No car available in ${city} from ${from}.`);
    this.name = 'NoCarAvailableError';
  }
}

/** How long the rental company's API takes to answer. */
const LATENCY_MS = 50;

/**
 * The car rental API (the slowest of the three). `soldOutIn(city)` makes every rental there fail
 * with `NoCarAvailableError`. Applies each command once per idempotency key.
 */
@Injectable()
export class CarRental {
  readonly #rentals = new Map<string, string>();
  readonly #applied = new AppliedCommands();
  /** References issued so far (they are never reused). */
  #issued = 0;
  readonly #soldOut = new Set<string>();

  /** No car left in `city`. */
  soldOutIn(city: string): void {
    this.#soldOut.add(city);
  }

  @CommandHandler(RentCar)
  async rent(command: RentCar, context: MessageContext): Promise<string> {
    await sleep(LATENCY_MS);
    const { result: reference, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      if (this.#soldOut.has(command.city)) {
        console.log(`  [cars] ${command.tripId}: sold out in ${command.city}`);
        throw new NoCarAvailableError(command.city, command.from);
      }
      const reference = `CR-${++this.#issued}`;
      this.#rentals.set(command.tripId, reference);
      return reference;
    });
    console.log(
      `  [cars] ${command.tripId}: ${repeated ? 'already rented' : 'rented'} ${reference} in ${command.city} for ${command.days} days`,
    );
    return reference;
  }

  @CommandHandler(CancelCarRental)
  cancel(command: CancelCarRental, context: MessageContext): void {
    const { result: reference, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      const reference = this.#rentals.get(command.tripId);
      this.#rentals.delete(command.tripId);
      return reference;
    });
    const what = repeated
      ? 'already cancelled'
      : reference === undefined
        ? 'no car to cancel'
        : `cancelled ${reference}`;
    console.log(`  [cars] ${command.tripId}: ${what}`);
  }

  /** The cars rented, by trip. */
  rentals(): ReadonlyMap<string, string> {
    return new Map(this.#rentals);
  }
}
