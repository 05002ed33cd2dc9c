import type { Logger } from '../core/logger';
import type { Constructor } from '../core/types';
import { LOGGER } from '../container/tokens';
import { EVENT_STORE } from '../eventsourcing/event-sourcing.module';
import type { EventStore } from '../eventsourcing/event-store';
import { EventSerializer } from '../eventsourcing/event-serializer';
import { Module } from '../metadata/module.decorators';
import { createToken, type Provider } from '../metadata/records';
import { ProjectionEngine, type ProjectionEngineOptions } from './projection-engine';
import type { ReadModelStore } from './read-model-store';

/** Injects the application's {@link ReadModelStore} (to query read models). */
export const READ_MODELS = createToken<ReadModelStore>('potter:ReadModels');

/** Options of {@link ProjectionsModule.forRoot}. */
export interface ProjectionsModuleOptions extends Omit<
  ProjectionEngineOptions,
  'eventStore' | 'logger' | 'serializer'
> {
  /** `@Projection` classes; they are providers, so they may inject services. */
  projections: Constructor[];
  /** Modules whose exports the projections inject (as for any module's `imports`). */
  imports?: Constructor[];
  /** @default the event store of `EventSourcingModule` (`EVENT_STORE`) */
  eventStore?: EventStore;
  /** Start the projections with the app (`app.start()`); off for tools that only inspect them. @default true */
  autoStart?: boolean;
  /** Close the projection and read-model stores when the app stops. @default false */
  closeOnStop?: boolean;
}

/** Starts and stops the engine with the app. @internal */
class ProjectionsLifecycle {
  constructor(
    readonly engine: ProjectionEngine,
    readonly options: ProjectionsModuleOptions,
  ) {}
  onStart(): void {
    if (this.options.autoStart !== false) this.engine.start();
  }
  async onStop(): Promise<void> {
    await this.engine.stop();
    if (this.options.closeOnStop) {
      await this.engine.store.close();
      await this.engine.readModels.close();
    }
  }
}

/**
 * Projections for an application: import `ProjectionsModule.forRoot({ projections, store, readModels })`
 * in the root module. It provides the {@link ProjectionEngine} (inject it to query status, reset,
 * rebuild or retry parked events) and {@link READ_MODELS}; the projections start with the app and
 * stop with it.
 */
export class ProjectionsModule {
  /** The module to import. */
  static forRoot(options: ProjectionsModuleOptions): Constructor {
    const { projections } = options;
    const providers: Provider[] = [
      ...projections,
      {
        provide: ProjectionEngine,
        useFactory: (...deps: unknown[]) => {
          // With an explicit event store, no event-sourcing module is needed; else share its store
          // and serializer (with its upcasters).
          const [logger, ...rest] = deps as [Logger, ...unknown[]];
          const shared = options.eventStore === undefined;
          const serializer = shared ? (rest.shift() as EventSerializer) : undefined;
          const eventStore = options.eventStore ?? (rest.shift() as EventStore);
          const engine = new ProjectionEngine({
            ...options,
            eventStore,
            logger,
            ...(serializer ? { serializer } : {}),
          });
          for (const instance of rest) engine.register(instance as object);
          return engine;
        },
        inject: [
          LOGGER,
          ...(options.eventStore === undefined ? [EventSerializer, EVENT_STORE] : []),
          ...projections,
        ],
      },
      {
        provide: READ_MODELS,
        useFactory: (engine: ProjectionEngine) => engine.readModels,
        inject: [ProjectionEngine],
      },
      {
        provide: ProjectionsLifecycle,
        useFactory: (engine: ProjectionEngine) => new ProjectionsLifecycle(engine, options),
        inject: [ProjectionEngine],
      },
    ];
    @Module({
      imports: options.imports ?? [],
      providers,
      exports: [ProjectionEngine, READ_MODELS],
      global: true,
    })
    class ProjectionsRootModule {}
    return ProjectionsRootModule;
  }
}
