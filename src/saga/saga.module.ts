import { ConfigurationError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { EventStore } from '../eventsourcing/event-store';
import { MemoryEventStore } from '../eventsourcing/memory/memory-event-store';
import type { SqlClient } from '../eventsourcing/sql/sql-client';
import { MemoryProjectionStore } from '../projections/memory-projection-store';
import { ProjectionEngine, type ProjectionEngineOptions } from '../projections/projection-engine';
import type { ProjectionStore } from '../projections/projection-store';
import { SqlProjectionStore } from '../projections/sql/sql-projection-store';
import { MemorySagaViews } from './monitoring/memory-saga-views';
import { SAGA_QUERY_HANDLERS, SAGA_VIEWS } from './monitoring/saga-queries';
import { SagaReadModelProjection } from './monitoring/saga-read-model.projection';
import type { SagaViewStore } from './monitoring/saga-view';
import { SagaMonitor } from './monitoring/saga-monitor';
import { SqlSagaViews } from './monitoring/sql-saga-views';
import { MemorySagaStore, type SagaStore } from './saga-store';
import type { Constructor } from '../core/types';
import { LOGGER } from '../container/tokens';
import { CommandBus } from '../cqrs/command-bus';
import { EventBus } from '../events/event-bus';
import { Module } from '../metadata/module.decorators';
import { createToken, type Provider } from '../metadata/records';
import { silentLogger } from '../core/logger';
import type { SagaDefinition } from './define-saga';
import { SagaOrchestrator, type SagaOrchestratorOptions } from './orchestrator';
import { sagaDefinitionOf } from './saga.decorators';
import { toSagaBusEvent } from './saga-events';

/** Options of {@link SagaModule.forRoot}. */
export interface SagaModuleOptions extends Omit<
  SagaOrchestratorOptions,
  'publish' | 'commandBus' | 'eventBus' | 'logger'
> {
  /** `@Saga` classes; they are providers, so they may inject services. */
  sagas?: Constructor[];
  /** Definitions built with `defineSaga(...).build()`. */
  definitions?: SagaDefinition<never>[];
  /** Modules whose exports the saga classes inject (as for any module's `imports`). */
  imports?: Constructor[];
  /** Publish the saga events on the EventBus (`SagaStarted`, `SagaStepCompleted`, …). @default true */
  publishEvents?: boolean;
  /** Resume unfinished sagas when the app starts (and claim orphaned ones while it runs). @default true */
  resume?: boolean;
  /** Close the saga store when the app stops. @default false */
  closeOnStop?: boolean;
  /**
   * The saga read model and its queries (`GetSaga`, `ListSagas`, `GetSagaHistory`,
   * `CountSagasByStatus` on the QueryBus): a `potter.sagas` projection of the events the saga store
   * records. On by default when the store records events (`SqlSagaStore.for(eventStore)`, the
   * default in-memory store); `true` or options with a store that records none is a
   * `ConfigurationError`. `false` turns it off.
   */
  monitoring?: boolean | SagaMonitoringOptions;
}

/** Options of the saga read model (`SagaModuleOptions.monitoring`). */
export interface SagaMonitoringOptions {
  /**
   * Where the views are kept. @default `SqlSagaViews` beside an SQL event store (the saga store's),
   * else `MemorySagaViews`
   */
  views?: SagaViewStore;
  /**
   * Checkpoint and lease of the `potter.sagas` projection. @default `SqlProjectionStore` beside an
   * SQL event store (transactional: exactly once), else `MemoryProjectionStore`
   */
  projectionStore?: ProjectionStore;
  /** Options of the projection engine that runs it (lease, polling, instance id, instrumentation). */
  engine?: Omit<ProjectionEngineOptions, 'eventStore' | 'store' | 'readModels'>;
}

/** The SQL event store's client and schema, when `eventStore` is one (duck-typed: no driver import). */
function sqlHome(eventStore: EventStore): { client: SqlClient; schema: string } | undefined {
  const candidate = eventStore as Partial<{ client: SqlClient; schema: string }>;
  return typeof candidate.client === 'object' &&
    candidate.client !== null &&
    typeof candidate.client.transaction === 'function' &&
    typeof candidate.schema === 'string'
    ? { client: candidate.client, schema: candidate.schema }
    : undefined;
}

/** The saga store and the monitoring to run with it. @internal */
function monitoringFor(
  options: SagaModuleOptions,
  store: SagaStore,
  logger: Logger,
): SagaMonitor | undefined {
  if (options.monitoring === false) return undefined;
  const eventStore = store.eventStore;
  if (eventStore === undefined) {
    if (options.monitoring === undefined) return undefined;
    throw new ConfigurationError(
      'Saga monitoring needs a saga store that records saga events: use SqlSagaStore.for(eventStore) ' +
        '(with an SqlEventStore) or new MemorySagaStore({ eventStore }), or set monitoring: false.',
      { store: store.constructor.name },
    );
  }
  const settings = typeof options.monitoring === 'object' ? options.monitoring : {};
  const sql = sqlHome(eventStore);
  const views = settings.views ?? (sql ? SqlSagaViews.for(sql) : new MemorySagaViews());
  const projectionStore =
    settings.projectionStore ?? (sql ? SqlProjectionStore.for(sql) : new MemoryProjectionStore());
  const engine = new ProjectionEngine({
    logger,
    ...settings.engine,
    eventStore,
    store: projectionStore,
  });
  engine.register(new SagaReadModelProjection(views));
  return new SagaMonitor(views, engine);
}

/** The monitoring of one SagaModule (boxed: a factory cannot provide `undefined`). @internal */
interface MonitoringBox {
  store: SagaStore;
  value: SagaMonitor | undefined;
}
const SAGA_MONITORING = createToken<MonitoringBox>('potter:SagaMonitoring');

/** Starts and stops the orchestrator with the app. @internal */
class SagaLifecycle {
  constructor(
    readonly orchestrator: SagaOrchestrator,
    readonly options: SagaModuleOptions,
    readonly monitoring: SagaMonitor | undefined,
  ) {}
  async onStart(): Promise<void> {
    this.monitoring?.engine.start();
    if (this.options.resume !== false) await this.orchestrator.resume();
  }
  async onStop(): Promise<void> {
    await this.orchestrator.stop();
    // After the orchestrator: its last saves' events are still projected if the engine catches up.
    await this.monitoring?.engine.stop();
    if (this.options.closeOnStop) await this.orchestrator.store.close();
  }
}

/**
 * Sagas for an application: import `SagaModule.forRoot({ sagas: [OrderSaga], store })` in the root
 * module. It provides the {@link SagaOrchestrator} (inject it to start, cancel, or operate sagas);
 * steps can dispatch commands and wait for events on the app's buses; saga events are published on
 * the EventBus; unfinished sagas are resumed when the app starts.
 */
export class SagaModule {
  /** The module to import. */
  static forRoot(options: SagaModuleOptions = {}): Constructor {
    const sagas = options.sagas ?? [];
    const providers: Provider[] = [
      ...sagas,
      {
        provide: SAGA_MONITORING,
        useFactory: (logger: Logger) => {
          // Without a store, an in-memory one (per app) that records its events for the read model.
          const store =
            options.store ??
            new MemorySagaStore({
              eventStore: new MemoryEventStore(),
              ...(options.clock ? { clock: options.clock } : {}),
            });
          return { store, value: monitoringFor(options, store, logger) };
        },
        inject: [LOGGER],
      },
      {
        provide: SagaOrchestrator,
        useFactory: (...deps: unknown[]) => {
          const [logger, commandBus, eventBus, box, ...instances] = deps as [
            Logger,
            CommandBus,
            EventBus,
            MonitoringBox,
            ...object[],
          ];
          const publishEvents = options.publishEvents !== false;
          const orchestrator = new SagaOrchestrator({
            ...options,
            store: box.store,
            logger,
            commandBus,
            eventBus,
            ...(publishEvents
              ? {
                  publish: async (event) => {
                    await eventBus.publish(toSagaBusEvent(event), { correlationId: event.correlationId });
                  },
                }
              : {}),
          });
          for (const definition of options.definitions ?? []) orchestrator.register(definition);
          for (const instance of instances) orchestrator.register(sagaDefinitionOf(instance));
          return orchestrator;
        },
        inject: [LOGGER, CommandBus, EventBus, SAGA_MONITORING, ...sagas],
      },
      {
        provide: SagaLifecycle,
        useFactory: (orchestrator: SagaOrchestrator, monitoring: MonitoringBox) =>
          new SagaLifecycle(orchestrator, options, monitoring.value),
        inject: [SagaOrchestrator, SAGA_MONITORING],
      },
    ];
    // Without a store, the default one records events. Bad monitoring options fail here, at once.
    const monitored =
      options.monitoring !== false && (options.store === undefined || options.store.eventStore !== undefined);
    if (options.store !== undefined && options.monitoring !== undefined && options.monitoring !== false) {
      if (options.store.eventStore === undefined) monitoringFor(options, options.store, silentLogger);
    }
    if (monitored) {
      providers.push(
        {
          provide: SagaMonitor,
          useFactory: (monitoring: MonitoringBox) => monitoring.value!,
          inject: [SAGA_MONITORING],
        },
        {
          provide: SAGA_VIEWS,
          useFactory: (monitor: SagaMonitor) => monitor.views,
          inject: [SagaMonitor],
        },
      );
    }
    @Module({
      imports: options.imports ?? [],
      providers,
      handlers: monitored ? [...SAGA_QUERY_HANDLERS] : [],
      exports: monitored ? [SagaOrchestrator, SagaMonitor, SAGA_VIEWS] : [SagaOrchestrator],
      global: true,
    })
    class SagaRootModule {}
    return SagaRootModule;
  }
}
