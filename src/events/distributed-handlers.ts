import type { HandlerEntry } from '../cqrs/handler-descriptor';

/** An event handler delivered through the message bus rather than in-process. */
export interface DistributedHandler {
  entry: HandlerEntry;
  /** The `@Event` class it handles. */
  eventClass: Function;
  /** Its consumer group: `Class.method` unless the handler names one. */
  group: string;
}

/**
 * The event handlers marked `distributed` in an application: `bootstrap()` records them here instead
 * of subscribing them to the in-process event bus; `MessagingModule` subscribes them to the broker.
 */
export class DistributedHandlers {
  readonly #handlers: DistributedHandler[] = [];

  /** Records a handler (called by `bootstrap`). */
  add(handler: DistributedHandler): void {
    this.#handlers.push(handler);
  }

  /** Every distributed handler, in registration order. */
  list(): readonly DistributedHandler[] {
    return this.#handlers;
  }
}
