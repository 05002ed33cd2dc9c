/**
 * Durable timers: one-shot timers with an id, a kind and a JSON payload, that survive restarts,
 * fire once even with several instances, and never fire after a cancel has committed. Handlers are
 * registered per kind (a process that restarts registers them again; the closure of a timer is
 * its kind and payload, never a function).
 */

/** A pending timer. */
export interface DurableTimer<P = unknown> {
  /** Unique; scheduling an existing id replaces that timer (its due time and payload). */
  readonly id: string;
  /** Selects the handler. */
  readonly kind: string;
  /** When it is due (ms since the epoch). */
  readonly dueAt: number;
  /** JSON data given to the handler. */
  readonly payload: P;
  /** Failed firings so far (the handler threw). */
  readonly attempts: number;
}

/** What a timer handler receives besides the timer. */
export interface TimerFiring<Tx = unknown> {
  /**
   * For a SQL timer service: the transaction that deletes the timer. Writes made through it commit
   * exactly when the firing does, so their effect happens once. Undefined in memory.
   */
  readonly tx: Tx | undefined;
  /** 1 for the first firing, 2 after the handler threw once, … */
  readonly attempt: number;
}

/** A timer handler. Throwing makes the timer fire again later (with backoff). */
export type TimerHandler<P = unknown, Tx = unknown> = (
  timer: DurableTimer<P>,
  firing: TimerFiring<Tx>,
) => void | Promise<void>;

/** Options of {@link TimerService.schedule} and {@link TimerService.cancel}. */
export interface TimerWriteOptions<Tx = unknown> {
  /** Write in this transaction (SQL services): the timer exists (or is gone) exactly when it commits. */
  readonly tx?: Tx;
}

/** Durable timers (see the module comment). */
export interface TimerService<Tx = unknown> {
  /** Schedules (or replaces) a timer due at `dueAt` (a Date, or ms since the epoch). */
  schedule<P>(
    timer: { id: string; kind: string; dueAt: Date | number; payload?: P },
    options?: TimerWriteOptions<Tx>,
  ): Promise<void>;
  /**
   * Cancels a pending timer. Resolves to true when it was pending: it will never fire. Resolves to
   * false when it does not exist (it fired already, or never existed). A firing in progress is
   * waited for (then false).
   */
  cancel(id: string, options?: TimerWriteOptions<Tx>): Promise<boolean>;
  /** The pending timer with this id, if any. */
  get(id: string): Promise<DurableTimer | undefined>;
  /** Registers the handler of a kind (one per kind). Timers of a kind without a handler wait. */
  handle<P>(kind: string, handler: TimerHandler<P, Tx>): void;
  /** Starts firing due timers. */
  start(): Promise<void>;
  /** Stops firing (waits for firings in progress). */
  stop(): Promise<void>;
}
