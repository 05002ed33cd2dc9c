import type { ResolvedBackoff } from '../core/backoff';
import { systemClock, type Clock } from '../core/clock';
import { silentLogger, type Logger } from '../core/logger';
import type { DurableTimer, TimerHandler, TimerService, TimerWriteOptions } from './timer-service';
import { systemTimers, type SagaTimers } from './timers';
import {
  checkHandlerKind,
  describeFailure,
  MAX_TIMEOUT_MS,
  normalizeTimer,
  resolveTimerRetry,
  timerRetryDelay,
  type TimerRetryOptions,
} from './timer-support';

/** Options of {@link MemoryTimerService}. */
export interface MemoryTimerServiceOptions {
  /** What "now" is when deciding whether a timer is due. @default the system clock */
  clock?: Clock;
  /** How the service waits for the next due time (pass manual timers to drive it in tests). @default `setTimeout` (unref'd) */
  timers?: SagaTimers;
  /** Delay before a timer whose handler threw fires again. @default 1 s doubling to 5 min, `equal` jitter */
  retry?: TimerRetryOptions;
  /** Where handler failures are reported. @default silent */
  logger?: Logger;
}

/** One version of a pending timer; replacing or retrying a timer stores a new object. */
interface StoredTimer {
  readonly id: string;
  readonly kind: string;
  readonly dueAt: number;
  readonly payloadJson: string;
  readonly attempts: number;
  readonly lastError: string | undefined;
  /** Orders timers due at the same time by when they were stored. */
  readonly seq: number;
}

/**
 * Durable-timer semantics in one process, in memory: the {@link TimerService} for applications
 * and tests that run a single instance without a database. Timers do not survive the process.
 *
 * - `schedule` replaces a timer with the same id (its attempts start again from 0).
 * - `cancel` resolves to true only when the timer was pending; it waits for a firing of that timer
 *   in progress (then false, or true if that firing failed and the timer is pending again).
 * - A handler that throws makes its timer fire again after the retry backoff, with
 *   `firing.attempt` one higher. A timer is never dropped.
 * - Timers of kinds without a handler wait until one is registered.
 * - Due timers fire concurrently (each timer at most once at a time); `stop()` waits for them.
 *
 * A handler must not await `cancel` of its own timer: `cancel` waits for the firing in progress,
 * which waits for the handler (`firing.tx` is undefined in memory; with a SQL service, cancel
 * through `firing.tx`).
 */
export class MemoryTimerService implements TimerService<undefined> {
  readonly #clock: Clock;
  readonly #timers: SagaTimers;
  readonly #retry: ResolvedBackoff;
  readonly #logger: Logger;
  /** The current version of every pending timer, by id. */
  readonly #pending = new Map<string, StoredTimer>();
  /** Versions in due order; stale ones (replaced, cancelled, fired) are skipped when they come up. */
  readonly #queue = new TimerQueue();
  /** Due timers whose kind has no handler yet, by kind. */
  readonly #unhandled = new Map<string, StoredTimer[]>();
  readonly #handlers = new Map<string, TimerHandler<unknown, undefined>>();
  readonly #inFlight = new Map<string, Promise<void>>();
  #running = false;
  #wake: { at: number; cancel: () => void } | undefined;
  #seq = 0;

  constructor(options: MemoryTimerServiceOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? systemTimers;
    this.#retry = resolveTimerRetry(options.retry);
    this.#logger = options.logger ?? silentLogger;
  }

  async schedule<P>(
    timer: { id: string; kind: string; dueAt: Date | number; payload?: P },
    _options?: TimerWriteOptions<undefined>,
  ): Promise<void> {
    const normalized = normalizeTimer(timer);
    this.#store({ ...normalized, attempts: 0, lastError: undefined, seq: this.#seq++ });
    this.#arm();
  }

  async cancel(id: string, _options?: TimerWriteOptions<undefined>): Promise<boolean> {
    for (let firing = this.#inFlight.get(id); firing; firing = this.#inFlight.get(id)) await firing;
    return this.#pending.delete(id);
  }

  async get(id: string): Promise<DurableTimer | undefined> {
    const stored = this.#pending.get(id);
    return stored && toDurableTimer(stored);
  }

  handle<P>(kind: string, handler: TimerHandler<P, undefined>): void {
    checkHandlerKind(kind, this.#handlers);
    this.#handlers.set(kind, handler as TimerHandler<unknown, undefined>);
    const waiting = this.#unhandled.get(kind);
    this.#unhandled.delete(kind);
    for (const stored of waiting ?? []) if (this.#pending.get(stored.id) === stored) this.#queue.push(stored);
    this.#arm();
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#arm();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.cancel();
    this.#wake = undefined;
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight.values());
  }

  #store(stored: StoredTimer): void {
    this.#pending.set(stored.id, stored);
    this.#queue.push(stored);
  }

  /** Makes sure a wake-up is set for the soonest timer (only while running). */
  #arm(): void {
    if (!this.#running) return;
    const next = this.#peekLive();
    if (next === undefined) {
      this.#wake?.cancel();
      this.#wake = undefined;
      return;
    }
    if (this.#wake && this.#wake.at <= next.dueAt) return;
    this.#wake?.cancel();
    const ms = Math.min(Math.max(next.dueAt - this.#clock.now(), 0), MAX_TIMEOUT_MS);
    const wake = {
      at: this.#clock.now() + ms,
      cancel: this.#timers.schedule(ms, () => {
        if (this.#wake === wake) this.#wake = undefined;
        this.#fireDue();
      }),
    };
    this.#wake = wake;
  }

  /** The soonest queued timer that may still fire, dropping stale versions on the way. */
  #peekLive(): StoredTimer | undefined {
    for (let top = this.#queue.peek(); top; top = this.#queue.peek()) {
      if (this.#pending.get(top.id) === top) return top;
      this.#queue.pop();
    }
    return undefined;
  }

  #fireDue(): void {
    const now = this.#clock.now();
    while (this.#running) {
      const top = this.#queue.peek();
      if (top === undefined || top.dueAt > now) break;
      this.#queue.pop();
      // Stale, or a replacement of a timer being fired: the firing's end queues the current version again.
      if (this.#pending.get(top.id) !== top || this.#inFlight.has(top.id)) continue;
      if (!this.#handlers.has(top.kind)) {
        const waiting = this.#unhandled.get(top.kind) ?? [];
        waiting.push(top);
        this.#unhandled.set(top.kind, waiting);
        continue;
      }
      this.#fire(top);
    }
    this.#arm();
  }

  #fire(stored: StoredTimer): void {
    // Registered before the handler runs: a handler that returns or throws synchronously ends the
    // firing before `#run` returns.
    let done = (): void => undefined;
    this.#inFlight.set(stored.id, new Promise<void>((resolve) => (done = resolve)));
    void this.#run(stored).finally(done);
  }

  async #run(stored: StoredTimer): Promise<void> {
    const handler = this.#handlers.get(stored.kind) as TimerHandler<unknown, undefined>;
    const attempt = stored.attempts + 1;
    try {
      await handler(toDurableTimer(stored), { tx: undefined, attempt });
      if (this.#pending.get(stored.id) === stored) this.#pending.delete(stored.id);
    } catch (error) {
      const retryInMs = timerRetryDelay(this.#retry, attempt);
      this.#logger.warn('A timer handler failed; the timer will fire again.', {
        timerId: stored.id,
        kind: stored.kind,
        attempt,
        retryInMs,
        error,
      });
      // Only if it was neither cancelled nor replaced meanwhile.
      if (this.#pending.get(stored.id) === stored) {
        this.#store({
          ...stored,
          dueAt: this.#clock.now() + retryInMs,
          attempts: attempt,
          lastError: describeFailure(error),
          seq: this.#seq++,
        });
      }
    } finally {
      this.#inFlight.delete(stored.id);
      const current = this.#pending.get(stored.id);
      if (current && current !== stored) this.#queue.push(current);
      this.#arm();
    }
  }
}

function toDurableTimer(stored: StoredTimer): DurableTimer {
  return Object.freeze({
    id: stored.id,
    kind: stored.kind,
    dueAt: stored.dueAt,
    payload: JSON.parse(stored.payloadJson) as unknown,
    attempts: stored.attempts,
  });
}

/** A binary min-heap of stored timers by due time, then storing order. */
class TimerQueue {
  readonly #heap: StoredTimer[] = [];

  peek(): StoredTimer | undefined {
    return this.#heap[0];
  }

  push(timer: StoredTimer): void {
    this.#heap.push(timer);
    let i = this.#heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  pop(): StoredTimer | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.#before(left, smallest)) smallest = left;
      if (right < heap.length && this.#before(right, smallest)) smallest = right;
      if (smallest === i) break;
      this.#swap(i, smallest);
      i = smallest;
    }
    return top;
  }

  #before(i: number, j: number): boolean {
    const a = this.#heap[i] as StoredTimer;
    const b = this.#heap[j] as StoredTimer;
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const heap = this.#heap;
    const a = heap[i] as StoredTimer;
    heap[i] = heap[j] as StoredTimer;
    heap[j] = a;
  }
}
