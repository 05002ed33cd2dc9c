import { setTimeout as sleep } from 'node:timers/promises';
import { Command, CommandHandler, Injectable, type MessageContext } from 'potter';
import { AppliedCommands, idempotencyKeyOf } from '../idempotency';

/** Books a room; answers with the booking reference. */
@Command('hotels.BookRoom')
export class BookRoom {
  constructor(
    readonly tripId: string,
    readonly city: string,
    readonly checkIn: string,
    readonly nights: number,
  ) {}
}

/** Cancels the room booked for a trip (nothing happens if none was). */
@Command('hotels.CancelRoom')
export class CancelRoom {
  constructor(readonly tripId: string) {}
}

/** How long the hotel's API takes to answer. */
const LATENCY_MS = 20;

/** The hotel booking API (answers after a short delay). Applies each command once per idempotency key. */
@Injectable()
export class Hotels {
  readonly #bookings = new Map<string, string>();
  readonly #applied = new AppliedCommands();
  /** References issued so far (they are never reused). */
  #issued = 0;

  @CommandHandler(BookRoom)
  async book(command: BookRoom, context: MessageContext): Promise<string> {
    await sleep(LATENCY_MS);
    const { result: reference, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      const reference = `HT-${++this.#issued}`;
      this.#bookings.set(command.tripId, reference);
      return reference;
    });
    console.log(
      `  [hotels] ${command.tripId}: ${repeated ? 'already booked' : 'booked'} ${reference}, ${command.nights} nights in ${command.city} from ${command.checkIn}`,
    );
    return reference;
  }

  @CommandHandler(CancelRoom)
  cancel(command: CancelRoom, context: MessageContext): void {
    const { result: reference, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      const reference = this.#bookings.get(command.tripId);
      this.#bookings.delete(command.tripId);
      return reference;
    });
    const what = repeated
      ? 'already cancelled'
      : reference === undefined
        ? 'no room to cancel'
        : `cancelled ${reference}`;
    console.log(`  [hotels] ${command.tripId}: ${what}`);
  }

  /** The rooms booked, by trip. */
  bookings(): ReadonlyMap<string, string> {
    return new Map(this.#bookings);
  }
}
