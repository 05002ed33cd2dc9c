import type { Clock } from '../core/clock';

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: number | Date = 0) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }
  now(): number {
    return this.#now;
  }
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
  /** Sets the clock. */
  set(time: number | Date): void {
    this.#now = typeof time === 'number' ? time : time.getTime();
  }
}
