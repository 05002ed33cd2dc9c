// The decorators and the module load the DI container, which needs the reflect polyfill first.
import 'reflect-metadata';
export { defineSaga, SagaBuilder, type SagaDefinition } from './define-saga';
export {
  SagaOrchestrator,
  type SagaOrchestratorOptions,
  type StartSagaOptions,
  type SagaHandle,
  type SagaCommandDispatcher,
  type SagaEventSubscriber,
} from './orchestrator';
export {
  MemorySagaStore,
  UNFINISHED_SAGA_STATUSES,
  OPEN_SAGA_STATUSES,
  type SagaStore,
  type SagaLease,
  type SagaRenewal,
} from './saga-store';
export type {
  TimerService,
  DurableTimer,
  TimerFiring,
  TimerHandler,
  TimerWriteOptions,
} from './timer-service';
export { MemoryTimerService, type MemoryTimerServiceOptions } from './memory-timer-service';
export { DEFAULT_TIMER_RETRY, type TimerRetryOptions } from './timer-support';
export { sagaLifecycle, SETTLED_SAGA_STATUSES, type SagaLifecycleEvent } from './lifecycle';
export { systemTimers, delay, type SagaTimers } from './timers';
export { Saga, SagaStep, Compensate, sagaDefinitionOf, type SagaStepOptions } from './saga.decorators';
export { sagaNameOf, isSagaClass } from './saga-metadata';
export { SAGA_ID_HEADER, IDEMPOTENCY_KEY_HEADER, idempotencyKeyOf, sagaIdOf } from './headers';
export { SagaModule, type SagaModuleOptions, type SagaMonitoringOptions } from './saga.module';
export {
  SAGA_STREAM_PREFIX,
  SAGA_EVENT_TYPE_NAMES,
  sagaStreamId,
  sagaEventOf,
  type RecordedSagaEvent,
} from './saga-event-log';
export {
  SAGA_STATUSES,
  applySagaEvent,
  type SagaView,
  type SagaStepView,
  type SagaStepViewStatus,
  type SagaViewError,
  type SagaHistoryEntry,
  type SagaTimeBound,
  type SagaFilter,
  type ListSagasQuery,
  type SagaPage,
  type SagaHistoryQuery,
  type SagaStatusCounts,
  type SagaViewStore,
} from './monitoring/saga-view';
export { MemorySagaViews } from './monitoring/memory-saga-views';
export { SagaMonitor } from './monitoring/saga-monitor';
export { SagaReadModelProjection, SAGA_READ_MODEL_PROJECTION } from './monitoring/saga-read-model.projection';
export {
  SAGA_VIEWS,
  GetSaga,
  ListSagas,
  GetSagaHistory,
  CountSagasByStatus,
  CountSagasByType,
} from './monitoring/saga-queries';
export {
  SagaBusEvent,
  SagaStarted,
  SagaStepStarted,
  SagaStepCompleted,
  SagaStepFailed,
  SagaStepSkipped,
  SagaCompensationStarted,
  SagaCompensationCompleted,
  SagaCompensationFailed,
  SagaCompleted,
  SagaFailed,
  SagaCompensated,
  SagaCancelled,
  SagaCompensationExhausted,
  SagaResolved,
  SAGA_EVENT_CLASSES,
  toSagaBusEvent,
} from './saga-events';
export {
  SagaCancelledError,
  SagaAbortedError,
  SagaNotFoundError,
  SagaStateError,
  SagaConflictError,
  SagaOwnershipLostError,
  SagaQueryError,
  errorInfo,
  isInterruption,
} from './errors';
export type {
  SagaStatus,
  StepArgs,
  WaitForOptions,
  StepOptions,
  NamedStep,
  StepNode,
  ParallelNode,
  SagaNode,
  SagaOptions,
  SagaErrorInfo,
  SagaState,
  SagaEventType,
  SagaEvent,
  SagaEventPublisher,
} from './types';
