import { defineSaga } from 'potter';

/** What goes wrong in a run of a saga (the example's scenarios). */
export interface Trouble {
  /** The card is declined: not retried, the saga compensates. */
  declineCard?: boolean;
  /** The payment provider times out once: the step is retried and succeeds. */
  timeoutOnce?: boolean;
  /** The airline refuses to cancel the flight: the compensation fails, the saga needs an operator. */
  airlineDown?: boolean;
  /** The e-mail bounces: the invoice is voided. */
  bounce?: boolean;
}

/** The context of a trip booking. */
export interface TripContext extends Trouble {
  tripId: string;
  traveller: string;
  amount: number;
  /** Attempts of the charge so far (the retry scenario). */
  charges?: number;
}

/** The context of an invoice. */
export interface InvoiceContext extends Trouble {
  invoiceId: string;
  customer: string;
}

/** A card payment refused by the bank: an answer, not a glitch, so never retried. */
export class CardDeclinedError extends Error {
  override readonly name = 'CardDeclinedError';
}

/** Some work that takes `ms` (a call to another service). */
const work = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A trip: book the flight, then the hotel, then charge the card; a failed charge cancels the hotel,
 * then the flight (reverse order). The steps call no real service: they wait a little and fail as
 * the context says, so the read model has something to show.
 */
export const tripBooking = defineSaga<TripContext>('trip-booking')
  .step('book-flight', {
    execute: () => work(20),
    compensate: async ({ context }) => {
      await work(5);
      if (context.airlineDown) throw new Error('airline API unavailable: the flight is still booked');
    },
  })
  .step('book-hotel', { execute: () => work(10), compensate: () => work(5) })
  .step('charge-card', {
    retry: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 20 },
    retryable: (error) => !(error instanceof CardDeclinedError),
    execute: async ({ context }) => {
      await work(15);
      context.charges = (context.charges ?? 0) + 1;
      if (context.timeoutOnce && context.charges === 1) throw new Error('payment provider timed out');
      if (context.declineCard) throw new CardDeclinedError(`card of ${context.traveller} declined`);
    },
  })
  // One attempt per compensation: a failure needs an operator at once (a real app retries more).
  .compensationRetry({ maxAttempts: 1 })
  .build();

/** An invoice: issue it, then e-mail it; a bounced e-mail voids the invoice. */
export const invoicing = defineSaga<InvoiceContext>('invoicing')
  .step('issue-invoice', { execute: () => work(10), compensate: () => work(5) })
  .step('email-invoice', {
    execute: async ({ context }) => {
      await work(10);
      if (context.bounce) throw new Error(`mailbox of ${context.customer} does not exist`);
    },
  })
  .build();
