import {
  START,
  type EventStore,
  type GlobalPosition,
  type ReadAllResult,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from './event-store';

/**
 * Catch-up-then-live subscription over any store's `readAll`: reads batches until the end of the
 * log, then waits for `waitForChange` (a push notification) or the poll interval, whichever comes
 * first — the timer also covers a notification that fired while a read was in flight — and reads
 * again. Handlers see each event once, in log order; a handler error ends the subscription (`done`
 * rejects). `heldBack(position)` (optional) tells whether events after `position` are committed but
 * not readable yet (PostgreSQL: an older transaction is still open); the loop then rereads soon, with
 * backoff, instead of waiting for the next notification. @internal
 */
export function runSubscription(
  store: Pick<EventStore, 'readAll'>,
  handler: SubscriptionHandler,
  options: SubscribeOptions,
  waitForChange: (signal: AbortSignal) => Promise<void>,
  heldBack?: (position: GlobalPosition) => Promise<boolean>,
): Subscription {
  const controller = new AbortController();
  if (options.signal) {
    if (options.signal.aborted) controller.abort();
    else options.signal.addEventListener('abort', () => controller.abort(), { once: true });
  }
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  let position: GlobalPosition = options.after ?? START;
  /** Number of reads started so far, and the read number that last reached the end of the log. */
  let reads = 0;
  let caughtUpAt = 0;
  let waiters: (() => void)[] = [];
  /** Aborts the idle wait (set only while the loop is idle). */
  let idle: AbortController | undefined;

  /** Consecutive rereads of held-back events (for the backoff). */
  let heldBackRereads = 0;

  const wait = async (): Promise<void> => {
    if (controller.signal.aborted) return;
    const local = new AbortController();
    idle = local;
    const onStop = (): void => local.abort();
    controller.signal.addEventListener('abort', onStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        waitForChange(local.signal).catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, pollIntervalMs);
          local.signal.addEventListener('abort', () => resolve(), { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      local.abort();
      controller.signal.removeEventListener('abort', onStop);
      idle = undefined;
    }
  };

  const readAfter = (after: GlobalPosition): Promise<ReadAllResult> =>
    store.readAll({
      after,
      limit: batchSize,
      eventTypes: options.eventTypes,
      streamIdPrefix: options.streamIdPrefix,
      from: options.from,
      to: options.to,
    });
  /** The next batch, read while the handler works on the current one (catch-up only). */
  let ahead: { read: number; after: GlobalPosition; batch: Promise<ReadAllResult> } | undefined;

  const loop = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      let read: number;
      let batch: ReadAllResult;
      if (ahead && ahead.after === position) {
        read = ahead.read;
        const next = ahead.batch;
        ahead = undefined;
        batch = await next;
      } else {
        read = ++reads;
        batch = await readAfter(position);
      }
      if (batch.events.length > 0) {
        if (!batch.endOfLog) {
          ahead = { read: ++reads, after: batch.position, batch: readAfter(batch.position) };
          ahead.batch.catch(() => undefined); // awaited (and its error raised) on the next turn
        }
        await handler(batch.events);
      }
      position = batch.position;
      if (batch.endOfLog) {
        caughtUpAt = read;
        const ready = waiters;
        waiters = [];
        for (const w of ready) w();
        // Callers that asked during this read need a read that starts after their call: go on now.
        if (waiters.length > 0) continue;
        if (controller.signal.aborted) break;
        if (heldBack && (await heldBack(position).catch(() => false))) {
          // Committed events are on their way: reread soon rather than at the next notification.
          heldBackRereads++;
          await pause(Math.min(pollIntervalMs, 5 * 2 ** Math.min(heldBackRereads, 6)), controller.signal);
          continue;
        }
        heldBackRereads = 0;
        await wait();
      }
    }
  };
  const done = loop();
  done.catch(() => undefined);
  return {
    get position() {
      return position;
    },
    caughtUp() {
      // Caught up = a read that started after this call reached the end of the log.
      const after = reads;
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (caughtUpAt > after) resolve();
          else waiters.push(check);
        };
        waiters.push(check);
        idle?.abort(); // an idle loop rereads now instead of at the next notification
        done.then(resolve, reject);
      });
    },
    async stop() {
      controller.abort();
      await done;
    },
    done,
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
