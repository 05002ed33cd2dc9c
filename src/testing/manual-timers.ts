import type { SagaTimers } from '../saga/timers';
import { ManualClock } from './manual-clock';

/** Lets pending promise chains run: `turns` macrotask turns (each drains the microtask queue). */
export async function flushMicrotasks(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface PendingTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/**
 * Timers driven by a {@link ManualClock} (the `timers` option of `SagaOrchestrator` and
 * `MemoryTimerService`): nothing fires until `advance`, which moves the clock and fires what falls
 * due in time order, letting promise chains run in between. Retry delays, step and saga timeouts
 * are then exact and instant in tests.
 */
export class ManualTimers implements SagaTimers {
  readonly #pending: PendingTimer[] = [];
  #seq = 0;
  constructor(readonly clock: ManualClock = new ManualClock(0)) {}

  /** Schedules `callback` at `clock.now() + ms`; the returned function cancels it. */
  schedule(ms: number, callback: () => void): () => void {
    const timer = { at: this.clock.now() + ms, seq: this.#seq++, callback };
    this.#pending.push(timer);
    return () => {
      const index = this.#pending.indexOf(timer);
      if (index >= 0) this.#pending.splice(index, 1);
    };
  }

  /**
   * Remaining delays of the pending timers below `below` ms, soonest first (set the orchestrator's
   * `leaseMs` far out in tests, so its renewal timer stays out of the way).
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
    await flushMicrotasks();
    for (;;) {
      const due = this.#pending.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#pending.splice(this.#pending.indexOf(due), 1);
      this.clock.set(due.at);
      due.callback();
      await flushMicrotasks();
    }
    this.clock.set(target);
    await flushMicrotasks();
  }
}
