import type { Logger } from '../../core/logger';
import type { SqlClient } from './sql-client';

/** Options of {@link ChangeFeed}. @internal */
export interface ChangeFeedOptions {
  /** Send `NOTIFY` to other processes after appends. */
  notify: boolean;
  /** At most one `NOTIFY` per this many milliseconds; appends in between share it. */
  notifyIntervalMs: number;
  logger: Logger;
}

/**
 * Tells subscriptions of a SQL event store that the log may have grown.
 *
 * - **Sending.** After an append commits, `announce()` wakes this store's own subscriptions at once
 *   and sends `NOTIFY <channel>` for other processes — outside the append's transaction and
 *   throttled: the first append of a quiet period notifies at once, later ones share one `NOTIFY`
 *   per interval. A `NOTIFY` inside every append would cost each append a little, and would
 *   serialize concurrent commits on PostgreSQL's notification-queue lock.
 * - **Receiving.** `wait()` resolves on the next announcement or `NOTIFY` (when the client can
 *   `LISTEN`). The subscription's poll interval covers the rest: a lost notification, or a
 *   transaction elsewhere that held `readAll` back.
 * @internal
 */
export class ChangeFeed {
  readonly #client: SqlClient;
  readonly #channel: string;
  readonly #options: ChangeFeedOptions;
  #waiters = new Set<() => void>();
  #listening: Promise<(() => Promise<void>) | undefined> | undefined;
  #closed = false;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;

  constructor(client: SqlClient, channel: string, options: ChangeFeedOptions) {
    this.#client = client;
    this.#channel = channel;
    this.#options = options;
  }

  /** Wakes this process's waiters. */
  wake(): void {
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** An append committed: wake local waiters now, and notify other processes (throttled). */
  announce(): void {
    this.wake();
    if (!this.#options.notify || this.#closed || this.#timer) return;
    const delay = this.#lastSentAt + this.#options.notifyIntervalMs - Date.now();
    if (delay <= 0 && !this.#sending) {
      this.#send();
      return;
    }
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        void this.#sendAfter(this.#sending);
      },
      Math.max(delay, 0),
    );
    this.#timer.unref();
  }

  /** Resolves on the next change; rejects when `signal` aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    // Listening starts in the background: a local announcement must wake this waiter even while
    // the LISTEN connection is still being set up (the poll interval covers remote ones meanwhile).
    void this.#listen();
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiters.delete(wake);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(wake);
    });
  }

  /** Sends a pending notification, stops listening and wakes every waiter. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#sendAfter(this.#sending);
    }
    await this.#sending;
    this.wake();
    const stop = await this.#listening;
    this.#listening = undefined;
    await stop?.().catch(() => undefined);
  }

  async #sendAfter(previous: Promise<void> | undefined): Promise<void> {
    await previous;
    this.#send();
    await this.#sending;
  }

  #send(): void {
    this.#lastSentAt = Date.now();
    const sending: Promise<void> = this.#client
      .query('SELECT pg_notify($1, $2)', [this.#channel, ''])
      .then(
        () => undefined,
        (error: unknown) => this.#options.logger.warn('Could not notify event store subscribers.', { error }),
      )
      .finally(() => {
        if (this.#sending === sending) this.#sending = undefined;
      });
    this.#sending = sending;
  }

  #listen(): Promise<(() => Promise<void>) | undefined> {
    if (this.#listening || this.#closed || !this.#client.listen)
      return this.#listening ?? Promise.resolve(undefined);
    this.#listening = this.#client
      .listen(this.#channel, () => this.wake())
      .catch((error: unknown) => {
        // Polling still works: subscriptions only wake up later.
        this.#options.logger.warn('Event store notifications are unavailable; subscriptions poll instead.', {
          channel: this.#channel,
          error,
        });
        return undefined;
      });
    return this.#listening;
  }
}
