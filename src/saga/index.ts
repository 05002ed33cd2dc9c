export { defineSaga, SagaBuilder, type SagaDefinition } from './define-saga';
export {
  SagaOrchestrator,
  type SagaOrchestratorOptions,
  type StartSagaOptions,
  type SagaHandle,
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
export { sagaLifecycle, SETTLED_SAGA_STATUSES, type SagaLifecycleEvent } from './lifecycle';
export { systemTimers, delay, type SagaTimers } from './timers';
export {
  SagaCancelledError,
  SagaAbortedError,
  SagaNotFoundError,
  SagaStateError,
  SagaConflictError,
  SagaOwnershipLostError,
  errorInfo,
  isInterruption,
} from './errors';
export type {
  SagaStatus,
  StepArgs,
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
