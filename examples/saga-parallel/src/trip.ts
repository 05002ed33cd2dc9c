/**
 * The data of a trip-booking saga: the trip, then the booking references the steps get back. It is
 * saved after every step as JSON, so it holds plain data only.
 */
export interface TripContext {
  tripId: string;
  traveller: string;
  from: string;
  to: string;
  /** ISO date of the outbound flight and of the check-in. */
  date: string;
  nights: number;
  /** Set by `book-flight`. */
  flight?: string;
  /** Set by `book-hotel`. */
  hotel?: string;
  /** Set by `rent-car`. */
  car?: string;
}
