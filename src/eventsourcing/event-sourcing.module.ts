import { ConfigurationError } from '../core/errors';
import { silentLogger, type Logger } from '../core/logger';
import type { MessageContext } from '../core/message-context';
import type { Constructor } from '../core/types';
import { CLOCK, LOGGER } from '../container/tokens';
import type { Clock } from '../core/clock';
import { EventBus } from '../events/event-bus';
import { CommandHandler } from '../metadata/handler.decorators';
import { metadataRegistry } from '../metadata/metadata-registry';
import { Inject, Module } from '../metadata/module.decorators';
import { createToken, type Provider, type Token } from '../metadata/records';
import type { AggregateRoot } from './aggregate-root';
import { TARGET_AGGREGATE_ID } from './aggregate.decorators';
import { AggregateRepository, retryOnConflict } from './aggregate-repository';
import type { EventStore } from './event-store';
import { EventSerializer } from './event-serializer';
import { MemoryEventStore } from './memory/memory-event-store';
import type { SnapshotStore } from './snapshots/snapshot-store';
import type { SnapshotStrategy } from './snapshots/snapshot-strategies';
import { UpcasterRegistry, type Upcaster } from './upcasting';

/** Injects the application's {@link EventStore}. */
export const EVENT_STORE = createToken<EventStore>('potter:EventStore');

type AnyAggregate = new () => AggregateRoot;
const repositoryTokens = new WeakMap<Function, Token<AggregateRepository<AggregateRoot>>>();

/** The injection token of an aggregate's repository (see {@link InjectRepository}). */
export function repositoryToken<A extends AggregateRoot>(
  aggregate: new () => A,
): Token<AggregateRepository<A>> {
  let token = repositoryTokens.get(aggregate);
  if (!token) repositoryTokens.set(aggregate, (token = createToken(`Repository<${aggregate.name}>`)));
  return token as Token<AggregateRepository<A>>;
}

/** Injects the repository of an aggregate listed in `EventSourcingModule.forRoot({ aggregates })`. */
export function InjectRepository(aggregate: AnyAggregate): ParameterDecorator {
  return Inject(repositoryToken(aggregate));
}

/** Options of {@link EventSourcingModule.forRoot}. */
export interface EventSourcingOptions {
  /** Aggregates whose repositories are provided and whose `@CommandHandler` methods are wired. */
  aggregates: AnyAggregate[];
  /** @default a new MemoryEventStore */
  eventStore?: EventStore;
  snapshotStore?: SnapshotStore;
  /** Snapshot strategy for every aggregate, or per aggregate class. */
  snapshotStrategy?: SnapshotStrategy | Map<Function, SnapshotStrategy>;
  /** Upcasters applied when reading older events. */
  upcasters?: Upcaster[];
  /** Publish committed events on the app's event bus. @default true */
  publishEvents?: boolean;
  /**
   * Close the event store when the app stops. Leave it off when you created the store and close it
   * yourself (for example when several apps share it). @default false
   */
  closeOnStop?: boolean;
}

/** Hands out one repository per aggregate class, configured from the module options. */
export class AggregateRepositories {
  readonly #repositories = new Map<Function, AggregateRepository<AggregateRoot>>();
  constructor(
    readonly eventStore: EventStore,
    readonly serializer: EventSerializer,
    readonly eventBus: EventBus | undefined,
    readonly logger: Logger,
    readonly options: EventSourcingOptions,
    readonly clock?: Clock,
  ) {}

  /** The repository of `aggregate`. */
  for<A extends AggregateRoot>(aggregate: new () => A): AggregateRepository<A> {
    let repository = this.#repositories.get(aggregate);
    if (!repository) {
      const strategy =
        this.options.snapshotStrategy instanceof Map
          ? this.options.snapshotStrategy.get(aggregate)
          : this.options.snapshotStrategy;
      repository = new AggregateRepository(aggregate as new () => AggregateRoot, {
        eventStore: this.eventStore,
        serializer: this.serializer,
        eventBus: this.eventBus,
        logger: this.logger,
        ...(this.clock ? { now: () => new Date(this.clock!.now()) } : {}),
        ...(this.options.snapshotStore ? { snapshotStore: this.options.snapshotStore } : {}),
        ...(strategy ? { snapshotStrategy: strategy } : {}),
      });
      this.#repositories.set(aggregate, repository);
    }
    return repository as unknown as AggregateRepository<A>;
  }

  /** Waits for background snapshot writes (called on app stop). */
  async onStop(): Promise<void> {
    await Promise.all([...this.#repositories.values()].map((r) => r.whenIdle()));
    if (this.options.closeOnStop) await this.eventStore.close();
  }
}

/**
 * Event sourcing for an application: import `EventSourcingModule.forRoot({ aggregates, eventStore })`
 * in the root module. It provides the event store (`EVENT_STORE`), the repositories
 * (`@InjectRepository(Order)`, `AggregateRepositories`), and wires `@CommandHandler` methods of the
 * aggregates: Potter loads the aggregate named by the command's `@TargetAggregateId` field (a new
 * one if it does not exist), invokes the method, saves, and — for idempotent commands — retries
 * the whole cycle on a concurrency conflict.
 */
export class EventSourcingModule {
  /** The module to import. */
  static forRoot(options: EventSourcingOptions): Constructor {
    const eventStore = options.eventStore ?? new MemoryEventStore();
    const upcasters = new UpcasterRegistry().register(...(options.upcasters ?? []));
    const providers: Provider[] = [
      { provide: EVENT_STORE, useValue: eventStore },
      { provide: EventSerializer, useValue: new EventSerializer({ upcasters }) },
      {
        provide: AggregateRepositories,
        useFactory: (serializer: EventSerializer, bus: EventBus, logger: Logger, clock: Clock) =>
          new AggregateRepositories(
            eventStore,
            serializer,
            options.publishEvents === false ? undefined : bus,
            logger ?? silentLogger,
            options,
            clock,
          ),
        inject: [EventSerializer, EventBus, LOGGER, CLOCK],
      },
    ];
    const handlers: Constructor[] = [];
    for (const aggregate of options.aggregates) {
      const token = repositoryToken(aggregate);
      providers.push({
        provide: token,
        useFactory: (repos: AggregateRepositories) => repos.for(aggregate),
        inject: [AggregateRepositories],
      });
      const handler = aggregateCommandHandlers(aggregate);
      if (handler) handlers.push(handler);
    }
    @Module({
      providers,
      handlers,
      exports: [
        EVENT_STORE,
        EventSerializer,
        AggregateRepositories,
        ...options.aggregates.map(repositoryToken),
      ],
      global: true,
    })
    class EventSourcingRootModule {}
    return EventSourcingRootModule;
  }
}

/**
 * Builds a handler class named after the aggregate, with one method per `@CommandHandler` method of
 * the aggregate, each doing load → invoke → save. Returns `undefined` when the aggregate has none.
 */
function aggregateCommandHandlers(aggregate: AnyAggregate): Constructor | undefined {
  const records = metadataRegistry.getHandlers(aggregate).filter((h) => h.kind === 'command');
  if (records.length === 0) return undefined;
  class AggregateCommandHandlers {
    constructor(readonly repositories: AggregateRepositories) {}
  }
  Object.defineProperty(AggregateCommandHandlers, 'name', { value: aggregate.name });
  Inject(AggregateRepositories)(AggregateCommandHandlers, undefined, 0);
  const proto = AggregateCommandHandlers.prototype as unknown as Record<string | symbol, unknown>;
  for (const record of records) {
    const target = metadataRegistry.list(TARGET_AGGREGATE_ID, record.message).at(-1);
    if (!target) {
      throw new ConfigurationError(
        `${aggregate.name}.${String(record.method)} handles ${record.message.name}, which has no @TargetAggregateId() field naming the ${aggregate.name} to load.`,
        { aggregate: aggregate.name, command: record.message.name },
      );
    }
    const idempotent =
      record.options.idempotent ?? metadataRegistry.getMessage(record.message)?.idempotent ?? false;
    const method = record.method;
    proto[method] = async function (
      this: AggregateCommandHandlers,
      command: object,
      context: MessageContext,
    ): Promise<unknown> {
      const id = String((command as Record<string | symbol, unknown>)[target.property]);
      const repository = this.repositories.for(aggregate);
      const cycle = async (): Promise<unknown> => {
        const instance = await repository.loadOrCreate(id);
        const fn = (
          instance as unknown as Record<string | symbol, (c: object, ctx: MessageContext) => unknown>
        )[method]!;
        const result = await fn.call(instance, command, context);
        await repository.save(instance);
        return result;
      };
      return idempotent ? retryOnConflict(cycle) : cycle();
    };
    CommandHandler(record.message, record.options)(AggregateCommandHandlers.prototype, method);
  }
  return AggregateCommandHandlers;
}
