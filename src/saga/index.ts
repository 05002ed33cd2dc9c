export { defineSaga, SagaBuilder, type SagaDefinition } from './define-saga';
export {
  SagaOrchestrator,
  type SagaOrchestratorOptions,
  type StartSagaOptions,
  type SagaHandle,
} from './orchestrator';
export { MemorySagaStore, UNFINISHED_SAGA_STATUSES, type SagaStore } from './saga-store';
export { sagaLifecycle, SETTLED_SAGA_STATUSES, type SagaLifecycleEvent } from './lifecycle';
export { systemTimers, delay, type SagaTimers } from './timers';
export {
  SagaCancelledError,
  SagaAbortedError,
  SagaNotFoundError,
  SagaStateError,
  SagaConflictError,
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
