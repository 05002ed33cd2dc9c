import {
  EventHandlerFailedError,
  MessageContext,
  backoffDelay,
  currentMessageContext,
  resolveBackoff,
  silentLogger,
  sleep,
  type BackoffOptions,
  type DispatchMetadata,
  type Logger,
  type MessageEnvelope,
  type ResolvedBackoff,
} from '../core';
import type { DispatchGate } from '../cqrs/dispatch-gate';
import type { HandlerEntry } from '../cqrs/handler-descriptor';
import { MessageBusBase, type BusOptions } from '../cqrs/message-bus-base';
import { isRetryableByDefault } from '../cqrs/middleware/retry.middleware';
import {
  createMessageValidator,
  type MessageValidator,
  type ValidationMiddlewareOptions,
} from '../cqrs/middleware/validation.middleware';
import type { TopologyRecorder } from '../cqrs/topology-recorder';
import { metadataRegistry } from '../metadata';

/** A handler that failed on an event after all its attempts. */
export interface EventHandlerFailure {
  error: EventHandlerFailedError;
  /** The event, with its id and metadata. */
  envelope: MessageEnvelope;
  handlerName: string;
  attempts: number;
  /** What the handler threw on its last attempt. */
  cause: unknown;
}

/** Receives event-handler failures. */
export type EventHandlerFailureListener = (failure: EventHandlerFailure) => void;

/** Options of the event bus. */
export interface EventBusOptions extends BusOptions {
  /**
   * Retry policy of handlers that declare none. Event handlers are retried because an in-process
   * event is delivered once: a handler that gives up loses it. @default { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 1000 }
   */
  retry?: BackoffOptions;
  /** Which handler errors are worth retrying. @default every error except validation, routing and timeout errors */
  retryable?: (error: unknown) => boolean;
  /**
   * Validate each event with class-validator before any handler sees it; `publish` then rejects
   * with `ValidationError` and delivers nothing. @default false
   */
  validation?: boolean | ValidationMiddlewareOptions;
  /** Where failures go when no listener is registered. */
  logger?: Logger;
  /** Source of randomness for jitter (tests). */
  random?: () => number;
}

/** Result of publishing: how many handlers ran, and which failed. */
export interface PublishResult {
  delivered: number;
  failures: EventHandlerFailure[];
}

/**
 * In-process event bus: every event goes to every handler of its class (validated first, when
 * validation is on). Each handler is isolated —
 * its failure is retried with its own policy and then reported to the error channel
 * ({@link EventBus.onError}); it never stops other handlers or later events, and is never swallowed
 * (with no listener it is logged at error level).
 *
 * `publish` resolves when every handler has finished (failures included); it rejects only when the
 * event itself is invalid or the application no longer accepts messages.
 */
export class EventBus extends MessageBusBase {
  protected readonly kind = 'event';
  readonly #handlers = new Map<Function, HandlerEntry[]>();
  readonly #listeners = new Set<EventHandlerFailureListener>();
  readonly #retry: ResolvedBackoff;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #retryable: (error: unknown) => boolean;
  readonly #validator: MessageValidator | undefined;

  constructor(gate: DispatchGate, options: EventBusOptions = {}, topology?: TopologyRecorder) {
    super(gate, options, topology);
    this.#retryable = options.retryable ?? isRetryableByDefault;
    const validation = options.validation ?? false;
    this.#validator =
      validation === false ? undefined : createMessageValidator(validation === true ? {} : validation);
    this.#retry = resolveBackoff({ maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 1000, ...options.retry });
    this.#logger = options.logger ?? silentLogger;
    this.#random = options.random ?? Math.random;
  }

  /** Adds a handler for an event class. */
  subscribe(eventClass: Function, entry: HandlerEntry): () => void {
    const list = this.#handlers.get(eventClass) ?? [];
    list.push(entry);
    this.#handlers.set(eventClass, list);
    return () => {
      const current = this.#handlers.get(eventClass);
      if (current)
        this.#handlers.set(
          eventClass,
          current.filter((e) => e !== entry),
        );
    };
  }

  /**
   * Runs one handler on one event through the bus's middleware, once (no retry, no error channel):
   * for deliveries whose retries the caller owns, such as a message broker's. Rejects with the
   * handler's error.
   */
  async handleOnce(entry: HandlerEntry, event: object, context: MessageContext): Promise<void> {
    context.handlerName = entry.handlerName;
    await this.run(entry, this.pipelineOf(entry), event, context);
  }

  /** Descriptors of every handler, grouped by event class. */
  handlers(): HandlerEntry[] {
    return [...this.#handlers.values()].flat();
  }

  /** Observes handler failures; returns a function that removes the listener. */
  onError(listener: EventHandlerFailureListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Publishes one event to all its handlers. */
  publish(event: object, metadata?: DispatchMetadata): Promise<PublishResult> {
    return this.publishAll([event], metadata);
  }

  /**
   * Publishes events in order: each handler receives them one after another, in the given order,
   * while different handlers run concurrently.
   */
  async publishAll(events: readonly object[], metadata?: DispatchMetadata): Promise<PublishResult> {
    const parent = currentMessageContext();
    const deliveries: { entries: HandlerEntry[]; event: object; context: MessageContext }[] = [];
    for (const event of events) {
      if (event === null || typeof event !== 'object') throw this.invalid(event);
      const record = metadataRegistry.getMessage(event.constructor);
      if (record === undefined || record.kind !== 'event') throw this.invalid(event);
      this.gate.check(record.typeName);
      if (this.#validator) await this.#validator.validate(event, record.typeName);
      const context = new MessageContext(
        'event',
        record.typeName,
        event,
        record.schemaVersion,
        metadata,
        parent,
      );
      if (parent?.handlerName !== undefined)
        this.topology?.observe(parent.handlerName, 'event', record.typeName);
      deliveries.push({ entries: this.#handlers.get(event.constructor) ?? [], event, context });
    }
    const byHandler = new Map<HandlerEntry, { event: object; context: MessageContext }[]>();
    for (const { entries, event, context } of deliveries) {
      for (const entry of entries) {
        const queue = byHandler.get(entry);
        if (queue) queue.push({ event, context });
        else byHandler.set(entry, [{ event, context }]);
      }
    }
    const result: PublishResult = { delivered: 0, failures: [] };
    await Promise.all(
      [...byHandler].map(async ([entry, queue]) => {
        for (const { event, context } of queue) {
          const failure = await this.#deliver(entry, event, context);
          result.delivered++;
          if (failure) result.failures.push(failure);
        }
      }),
    );
    return result;
  }

  async #deliver(
    entry: HandlerEntry,
    event: object,
    shared: MessageContext,
  ): Promise<EventHandlerFailure | undefined> {
    const backoff = entry.retry ? resolveBackoff({ ...this.#retry, ...entry.retry }) : this.#retry;
    // Each handler gets its own context (same id and metadata) so its handler name is its own.
    const context = shared.fork();
    context.handlerName = entry.handlerName;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.run(entry, this.pipelineOf(entry), event, context);
        return undefined;
      } catch (cause) {
        if (attempt < backoff.maxAttempts && this.#retryable(cause)) {
          await sleep(backoffDelay(backoff, attempt, this.#random));
          continue;
        }
        return this.#report(entry, context, attempt, cause);
      }
    }
  }

  #report(
    entry: HandlerEntry,
    context: MessageContext,
    attempts: number,
    cause: unknown,
  ): EventHandlerFailure {
    const error = new EventHandlerFailedError(entry.handlerName, entry.messageType, attempts, cause);
    const failure: EventHandlerFailure = {
      error,
      envelope: context.toEnvelope(),
      handlerName: entry.handlerName,
      attempts,
      cause,
    };
    if (this.#listeners.size === 0) {
      this.#logger.error(error.message, { code: error.code, ...error.details, eventId: context.id });
    }
    for (const listener of this.#listeners) {
      try {
        listener(failure);
      } catch (listenerError) {
        this.#logger.error('An event-handler failure listener threw', { error: listenerError });
      }
    }
    return failure;
  }
}
