import type { Logger } from '../core/logger';
import type { Constructor } from '../core/types';
import { LOGGER } from '../container/tokens';
import { CommandBus } from '../cqrs/command-bus';
import { EventBus } from '../events/event-bus';
import { Module } from '../metadata/module.decorators';
import type { Provider } from '../metadata/records';
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
}

/** Starts and stops the orchestrator with the app. @internal */
class SagaLifecycle {
  constructor(
    readonly orchestrator: SagaOrchestrator,
    readonly options: SagaModuleOptions,
  ) {}
  async onStart(): Promise<void> {
    if (this.options.resume !== false) await this.orchestrator.resume();
  }
  async onStop(): Promise<void> {
    await this.orchestrator.stop();
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
        provide: SagaOrchestrator,
        useFactory: (...deps: unknown[]) => {
          const [logger, commandBus, eventBus, ...instances] = deps as [
            Logger,
            CommandBus,
            EventBus,
            ...object[],
          ];
          const publishEvents = options.publishEvents !== false;
          const orchestrator = new SagaOrchestrator({
            ...options,
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
        inject: [LOGGER, CommandBus, EventBus, ...sagas],
      },
      {
        provide: SagaLifecycle,
        useFactory: (orchestrator: SagaOrchestrator) => new SagaLifecycle(orchestrator, options),
        inject: [SagaOrchestrator],
      },
    ];
    @Module({ imports: options.imports ?? [], providers, exports: [SagaOrchestrator], global: true })
    class SagaRootModule {}
    return SagaRootModule;
  }
}
