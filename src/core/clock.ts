/** Port for reading the time, so time-dependent code can be tested with a fake clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real clock (`Date.now()`). */
export const systemClock: Clock = { now: () => Date.now() };
