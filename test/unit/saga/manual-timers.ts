import { ManualClock } from 'potter/testing';
import type { SagaTimers } from '../../../src/saga';

/** Lets pending promise chains run (several macrotask turns). */
export async function flush(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface PendingTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/** {@link SagaTimers} driven by a {@link ManualClock}: timers fire only in `advance`. */
export class ManualTimers implements SagaTimers {
  readonly #pending: PendingTimer[] = [];
  #seq = 0;
  constructor(readonly clock: ManualClock = new ManualClock(0)) {}

  schedule(ms: number, callback: () => void): () => void {
    const timer = { at: this.clock.now() + ms, seq: this.#seq++, callback };
    this.#pending.push(timer);
    return () => {
      const index = this.#pending.indexOf(timer);
      if (index >= 0) this.#pending.splice(index, 1);
    };
  }

  /**
   * Remaining delays of the pending timers below `below` ms, soonest first (the fixtures set the
   * orchestrator's lease far out, so its renewal timer stays out of the way).
   */
  pending(below = 1_000_000): number[] {
    return this.#pending
      .map((t) => t.at - this.clock.now())
      .filter((ms) => ms < below)
      .sort((a, b) => a - b);
  }

  /** Moves the clock by `ms`, firing every timer that falls due (in time order), flushing in between. */
  async advance(ms: number): Promise<void> {
    const target = this.clock.now() + ms;
    await flush();
    for (;;) {
      const due = this.#pending.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#pending.splice(this.#pending.indexOf(due), 1);
      this.clock.set(due.at);
      due.callback();
      await flush();
    }
    this.clock.set(target);
    await flush();
  }
}
