import { Command, CommandHandler } from 'potter';

/** Mails the traveller their itinerary. */
@Command('notifications.SendItinerary')
export class SendItinerary {
  constructor(
    readonly tripId: string,
    readonly traveller: string,
    readonly bookings: string[],
  ) {}
}

/** Sends mails (prints them here). */
export class Mailer {
  @CommandHandler(SendItinerary)
  send(command: SendItinerary): void {
    console.log(
      `  [mail] ${command.tripId}: itinerary sent to ${command.traveller}: ${command.bookings.join(', ')}`,
    );
  }
}
