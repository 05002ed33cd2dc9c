/** Options of {@link Inbox.once}. */
export interface InboxOnceOptions<TTx> {
  /**
   * A transaction to record the message id in, so the record commits or rolls back with the
   * handler's own writes (SQL inboxes). Without it, an SQL inbox opens one and hands it to `fn`.
   */
  tx?: TTx;
}

/** What {@link Inbox.once} did: ran `fn` (and its result), or skipped an already processed message. */
export type InboxOnceResult<T> = { processed: true; result: T } | { processed: false };

/**
 * The inbox port: remembers which message ids each consumer has processed, so at-least-once
 * delivery gives effectively-once handling. `consumer` names the handler (a consumer group, a
 * handler class); `messageId` is the envelope id. Adapters: memory, SQL (PostgreSQL/PGlite, can
 * record inside the handler's transaction), Redis (with a TTL).
 */
export interface Inbox<TTx = undefined> {
  /**
   * Records `messageId` as processed by `consumer` and resolves to `true` when it already was (a
   * duplicate, to skip) — check and record in one atomic step. With `tx`, the record is part of
   * that transaction.
   */
  seen(consumer: string, messageId: string, tx?: TTx): Promise<boolean>;
  /**
   * Runs `fn` only if `consumer` has not processed `messageId` yet, and records it as processed.
   * Concurrent calls with the same id run `fn` at most once between them (the others wait for the
   * first, then skip). When `fn` throws, nothing is recorded (an SQL transaction rolls back), so a
   * redelivery can try again.
   */
  once<T>(
    consumer: string,
    messageId: string,
    fn: (tx: TTx) => Promise<T> | T,
    options?: InboxOnceOptions<TTx>,
  ): Promise<InboxOnceResult<T>>;
}

/**
 * An inbox in process memory, for tests and single-process apps: ids are kept until the inbox is
 * dropped (or {@link MemoryInbox.clear}ed). Not shared between processes.
 */
export class MemoryInbox implements Inbox<undefined> {
  /** `done` once processed; a promise while `fn` runs (settled when it ends). */
  readonly #entries = new Map<string, 'done' | Promise<unknown>>();

  /** Ids recorded (processed or being processed), over all consumers. */
  get size(): number {
    return this.#entries.size;
  }

  async seen(consumer: string, messageId: string): Promise<boolean> {
    const key = entryKey(consumer, messageId);
    if (this.#entries.has(key)) return true;
    this.#entries.set(key, 'done');
    return false;
  }

  async once<T>(
    consumer: string,
    messageId: string,
    fn: (tx: undefined) => Promise<T> | T,
  ): Promise<InboxOnceResult<T>> {
    const key = entryKey(consumer, messageId);
    for (;;) {
      const entry = this.#entries.get(key);
      if (entry === 'done') return { processed: false };
      if (entry === undefined) break;
      await entry.then(
        () => undefined,
        () => undefined,
      );
    }
    const running = (async () => fn(undefined))();
    this.#entries.set(key, running);
    try {
      const result = await running;
      this.#entries.set(key, 'done');
      return { processed: true, result };
    } catch (error) {
      this.#entries.delete(key);
      throw error;
    }
  }

  /** Forgets every id. */
  clear(): void {
    this.#entries.clear();
  }
}

function entryKey(consumer: string, messageId: string): string {
  return `${consumer}\u0000${messageId}`;
}
