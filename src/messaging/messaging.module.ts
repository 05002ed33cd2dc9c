import type { BackoffOptions } from '../core/backoff';
import { ConfigurationError } from '../core/errors';
import { silentLogger, type Logger } from '../core/logger';
import { MessageContext } from '../core/message-context';
import { SerializerRegistry } from '../core/serializer-registry';
import type { Constructor } from '../core/types';
import { LOGGER } from '../container/tokens';
import type { HandlerEntry } from '../cqrs/handler-descriptor';
import { EVENT_STORE } from '../eventsourcing/event-sourcing.module';
import type { EventStore } from '../eventsourcing/event-store';
import { DistributedHandlers } from '../events/distributed-handlers';
import { EventBus } from '../events/event-bus';
import { metadataRegistry } from '../metadata/metadata-registry';
import { Module } from '../metadata/module.decorators';
import { createToken, type Provider } from '../metadata/records';
import type { BrokerMessage, MessageBus, TopicSubscription } from './message-bus';
import { OutboxRelay, type OutboxRelayOptions } from './outbox-relay';

/** Injects the application's {@link MessageBus}. */
export const MESSAGE_BUS = createToken<MessageBus>('potter:MessageBus');

/** Skips messages a consumer already handled (see `Inbox`); only what the module needs. */
export interface MessageDeduplicator {
  /** Runs `work` unless `consumer` already handled `messageId`; records it once `work` succeeded. */
  once(consumer: string, messageId: string, work: () => Promise<void>): Promise<unknown>;
}

/** Options of {@link MessagingModule.forRoot}. */
export interface MessagingModuleOptions {
  /** The broker adapter (memory, Redis, Kafka). */
  bus: MessageBus;
  /** The topic of an event type. @default `events.<type>` */
  topicFor?: (eventType: string) => string;
  /**
   * Event classes to send to the broker whenever they are published on the in-process event bus
   * (events of event-sourced aggregates are better relayed by the `outbox`).
   */
  forward?: Constructor[];
  /** The ordering key of a forwarded event. @default none */
  keyOf?: (event: object) => string | undefined;
  /** Dedupes deliveries per consumer group by message id (an `Inbox`). */
  inbox?: MessageDeduplicator;
  /** Retries of a distributed handler before its message is dead-lettered. @default the bus's */
  retry?: BackoffOptions;
  /** Messages handled at once per distributed handler (same key: always in order). @default 1 */
  concurrency?: number;
  /**
   * Relays the event store's events to the broker (transactional outbox), with the module's
   * `topicFor`. `eventStore` defaults to `EVENT_STORE`.
   */
  outbox?: Omit<OutboxRelayOptions, 'bus' | 'eventStore' | 'topicFor'> & { eventStore?: EventStore };
  /** Close the bus when the app stops. @default false */
  closeOnStop?: boolean;
}

/** Connects the app's distributed handlers, forwarders and outbox to the broker. @internal */
class MessagingRuntime {
  readonly #subscriptions: TopicSubscription[] = [];
  #relay: OutboxRelay | undefined;
  readonly #topicFor: (type: string) => string;

  constructor(
    readonly options: MessagingModuleOptions,
    readonly handlers: DistributedHandlers,
    readonly eventBus: EventBus,
    readonly serializer: SerializerRegistry,
    readonly logger: Logger,
    readonly eventStore: EventStore | undefined,
  ) {
    this.#topicFor = options.topicFor ?? ((type) => `events.${type}`);
  }

  onInit(): void {
    for (const eventClass of this.options.forward ?? []) this.#forward(eventClass);
    if (this.options.outbox) {
      const eventStore = this.options.outbox.eventStore ?? this.eventStore;
      if (!eventStore) {
        throw new ConfigurationError(
          'MessagingModule: the outbox needs an event store: import EventSourcingModule or pass outbox.eventStore.',
          {},
        );
      }
      this.#relay = new OutboxRelay({
        logger: this.logger,
        ...this.options.outbox,
        eventStore,
        bus: this.options.bus,
        topicFor: (event) => this.#topicFor(event.type),
      });
    }
  }

  async onStart(): Promise<void> {
    for (const handler of this.handlers.list()) {
      const type = metadataRegistry.getMessage(handler.eventClass)!.typeName;
      const subscription = await this.options.bus.subscribe(
        this.#topicFor(type),
        handler.group,
        (message) => this.#deliver(handler.entry, handler.group, message),
        {
          ...(this.options.retry ? { retry: this.options.retry } : {}),
          ...(this.options.concurrency ? { concurrency: this.options.concurrency } : {}),
        },
      );
      this.#subscriptions.push(subscription);
    }
    this.#relay?.start();
  }

  async onStop(): Promise<void> {
    await this.#relay?.stop();
    await Promise.all(this.#subscriptions.splice(0).map((s) => s.stop()));
    if (this.options.closeOnStop) await this.options.bus.close();
  }

  /** Hands a broker message to a distributed handler, in a context carrying the sender's metadata. */
  async #deliver(entry: HandlerEntry, group: string, message: BrokerMessage): Promise<void> {
    const { envelope } = message;
    const event = this.serializer.deserialize(envelope.type, envelope.payload);
    const metadata = envelope.metadata;
    const context = new MessageContext(
      'event',
      envelope.type,
      event,
      metadata.schemaVersion,
      {
        correlationId: metadata.correlationId,
        ...(metadata.causationId !== undefined ? { causationId: metadata.causationId } : {}),
        ...(metadata.traceparent !== undefined ? { traceparent: metadata.traceparent } : {}),
        ...(metadata.tenantId !== undefined ? { tenantId: metadata.tenantId } : {}),
        headers: metadata.headers,
      },
      undefined,
      envelope.id,
      Date.parse(metadata.timestamp),
    );
    const work = (): Promise<void> => this.eventBus.handleOnce(entry, event, context);
    if (this.options.inbox) await this.options.inbox.once(group, envelope.id, work);
    else await work();
  }

  /** Sends every in-process publication of `eventClass` to the broker too. */
  #forward(eventClass: Constructor): void {
    const record = metadataRegistry.getMessage(eventClass);
    if (!record || record.kind !== 'event') {
      throw new ConfigurationError(`MessagingModule.forward: ${eventClass.name} is not an @Event class.`, {
        class: eventClass.name,
      });
    }
    if (!this.serializer.lookup(record.typeName)) {
      this.serializer.register(record.typeName, eventClass, {
        kind: 'event',
        schemaVersion: record.schemaVersion,
      });
    }
    const topic = this.#topicFor(record.typeName);
    const entry: HandlerEntry = {
      kind: 'event',
      messageClass: eventClass,
      messageType: record.typeName,
      schemaVersion: record.schemaVersion,
      handlerName: `MessagingModule.forward(${record.typeName})`,
      idempotent: true,
      timeoutMs: undefined,
      retry: undefined,
      acceptsContext: true,
      invoke: async (event, context) => {
        const key = this.options.keyOf?.(event);
        await this.options.bus.publish(
          topic,
          [
            {
              id: context.id,
              type: record.typeName,
              kind: 'event',
              payload: this.serializer.serialize(event).payload,
              metadata: context.metadata,
            },
          ],
          key !== undefined ? { key } : {},
        );
      },
    };
    this.eventBus.subscribe(eventClass, entry);
  }
}

/**
 * Messaging for an application: import `MessagingModule.forRoot({ bus, … })` in the root module.
 * Event handlers declared `@EventHandler(E, { distributed: true })` receive `E` through the broker,
 * one consumer group per handler shared by all instances; `forward` sends in-process publications
 * of some events to the broker; `outbox` relays the event store's events to it. Inject the bus
 * with {@link MESSAGE_BUS}.
 */
export class MessagingModule {
  /** The module to import. */
  static forRoot(options: MessagingModuleOptions): Constructor {
    const shared = options.outbox !== undefined && options.outbox.eventStore === undefined;
    const providers: Provider[] = [
      { provide: MESSAGE_BUS, useValue: options.bus },
      {
        provide: MessagingRuntime,
        useFactory: (...deps: unknown[]) => {
          const [handlers, eventBus, serializer, logger, eventStore] = deps as [
            DistributedHandlers,
            EventBus,
            SerializerRegistry,
            Logger | undefined,
            EventStore | undefined,
          ];
          return new MessagingRuntime(
            options,
            handlers,
            eventBus,
            serializer,
            logger ?? silentLogger,
            eventStore,
          );
        },
        inject: [DistributedHandlers, EventBus, SerializerRegistry, LOGGER, ...(shared ? [EVENT_STORE] : [])],
      },
    ];
    @Module({ providers, exports: [MESSAGE_BUS], global: true })
    class MessagingRootModule {}
    return MessagingRootModule;
  }
}
