/** A FIFO queue with O(1) push and shift. @internal */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as T;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/**
 * Runs `run(item)` for pushed items with at most `concurrency` at once; items of the same key one
 * after the other in the order they were pushed; keys take turns (round robin). Items without a
 * key are independent. A rejection (or throw) of `run` is its own business: the dispatcher ignores
 * it. When `run` returns without a promise the item is done at once, and the next ones run in the
 * same loop (no promise, no microtask per item).
 * @internal
 */
export class KeyedDispatcher<T> {
  readonly #concurrency: number;
  readonly #run: (item: T) => Promise<void> | void;
  readonly #queues = new Map<string, Fifo<T>>();
  /** Keys with queued items and none running, in turn order (keyless items go here directly). */
  readonly #ready = new Fifo<{ key: string; queue: Fifo<T> } | { key: undefined; item: T }>();
  #running = 0;
  #size = 0;
  #pumping = false;
  #idleWaiters: Array<() => void> = [];

  constructor(concurrency: number, run: (item: T) => Promise<void> | void) {
    this.#concurrency = concurrency;
    this.#run = run;
  }

  /** Items queued or running. */
  get size(): number {
    return this.#size;
  }

  push(key: string | undefined, item: T): void {
    this.#size++;
    if (key === undefined) {
      if (!this.#pumping && this.#ready.length === 0 && this.#running < this.#concurrency) {
        this.#runNow(item); // nothing waits for a turn: no queueing
        return;
      }
      this.#ready.push({ key: undefined, item });
    } else {
      const queue = this.#queues.get(key);
      if (queue) {
        queue.push(item); // the key is running or ready: it picks this up in turn
        return;
      }
      const fresh = new Fifo<T>();
      fresh.push(item);
      this.#queues.set(key, fresh);
      this.#ready.push({ key, queue: fresh });
    }
    this.#pump();
  }

  /** Resolves when no item is queued or running. */
  idle(): Promise<void> {
    if (this.#size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Runs a keyless item at once (nothing is waiting for a turn, and there is room). */
  #runNow(item: T): void {
    this.#running++;
    this.#pumping = true;
    let result: Promise<void> | void;
    try {
      result = this.#run(item);
    } catch {
      result = undefined; // `run` reports its own failures
    } finally {
      this.#pumping = false;
    }
    if (result !== undefined && result !== null && typeof result.then === 'function') {
      void this.#finishLater(result, undefined, undefined);
      return;
    }
    this.#finish(undefined, undefined);
    if (this.#ready.length > 0)
      this.#pump(); // items pushed from inside `run`
    else this.#notifyIdle();
  }

  #pump(): void {
    if (this.#pumping) return; // a push from inside `run`: the loop below picks it up
    this.#pumping = true;
    try {
      while (this.#running < this.#concurrency && this.#ready.length > 0) {
        const turn = this.#ready.shift()!;
        this.#running++;
        let item: T;
        let key: string | undefined;
        let queue: Fifo<T> | undefined;
        if (turn.key === undefined) {
          item = turn.item;
        } else {
          key = turn.key;
          queue = turn.queue;
          item = queue.shift()!;
        }
        let result: Promise<void> | void;
        try {
          result = this.#run(item);
        } catch {
          result = undefined; // `run` reports its own failures
        }
        if (result !== undefined && result !== null && typeof result.then === 'function') {
          void this.#finishLater(result, key, queue);
        } else {
          this.#finish(key, queue);
        }
      }
    } finally {
      this.#pumping = false;
    }
    this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  async #finishLater(
    result: Promise<void>,
    key: string | undefined,
    queue: Fifo<T> | undefined,
  ): Promise<void> {
    try {
      await result;
    } catch {
      // `run` reports its own failures
    }
    this.#finish(key, queue);
    this.#pump();
  }

  #finish(key: string | undefined, queue: Fifo<T> | undefined): void {
    this.#running--;
    this.#size--;
    if (key !== undefined && queue !== undefined) {
      if (queue.length === 0) this.#queues.delete(key);
      else this.#ready.push({ key, queue });
    }
  }
}
