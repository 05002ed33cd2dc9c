import {
  START,
  type EventStore,
  type GlobalPosition,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from './event-store';

/**
 * Catch-up-then-live subscription over any store's `readAll`: reads batches until the end of the
 * log, then waits for `waitForChange` (a push notification, or a timer) and reads again. Handlers
 * see each event once, in log order; a handler error ends the subscription (`done` rejects).
 * @internal
 */
export function runSubscription(
  store: Pick<EventStore, 'readAll'>,
  handler: SubscriptionHandler,
  options: SubscribeOptions,
  waitForChange: (signal: AbortSignal) => Promise<void>,
): Subscription {
  const controller = new AbortController();
  if (options.signal) {
    if (options.signal.aborted) controller.abort();
    else options.signal.addEventListener('abort', () => controller.abort(), { once: true });
  }
  let position: GlobalPosition = options.after ?? START;
  let caughtUpWaiters: (() => void)[] = [];
  let caughtUpAt = -1;
  let round = 0;
  const batchSize = options.batchSize ?? 500;

  const loop = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      round++;
      const batch = await store.readAll({
        after: position,
        limit: batchSize,
        eventTypes: options.eventTypes,
        streamIdPrefix: options.streamIdPrefix,
        from: options.from,
        to: options.to,
      });
      if (batch.events.length > 0) await handler(batch.events);
      position = batch.position;
      if (batch.endOfLog) {
        caughtUpAt = round;
        const waiters = caughtUpWaiters;
        caughtUpWaiters = [];
        for (const w of waiters) w();
        try {
          await waitForChange(controller.signal);
        } catch {
          // aborted: the loop condition ends it
        }
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
      // "Caught up" means a read that started after this call reached the end of the log.
      const asked = round;
      if (caughtUpAt > asked) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (caughtUpAt > asked) resolve();
          else caughtUpWaiters.push(check);
        };
        caughtUpWaiters.push(check);
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
