import { defineMachine } from '../fsm/machine-definition';
import type { SimpleEvents } from '../fsm/types';
import type { SagaStatus } from './types';

/** The events of the saga lifecycle machine. */
export type SagaLifecycleEvent =
  | 'start'
  | 'complete'
  | 'fail'
  | 'compensate'
  | 'compensated'
  | 'cancelled'
  | 'compensation_failed'
  | 'retry_compensation'
  | 'resolve';

/**
 * The lifecycle of a saga. `fail` ends a saga with nothing to undo; `compensate` starts undoing;
 * `compensated` / `cancelled` end the compensation of a failed / cancelled saga;
 * `compensation_failed` waits for an operator, who retries (`retry_compensation`) or `resolve`s.
 */
export const sagaLifecycle = defineMachine<SagaStatus, SimpleEvents<SagaLifecycleEvent>>({
  id: 'saga',
  initial: 'pending',
  historyLimit: 0,
  states: {
    pending: { on: { start: { target: 'running' } } },
    running: {
      on: {
        complete: { target: 'completed' },
        fail: { target: 'failed' },
        compensate: { target: 'compensating' },
        cancelled: { target: 'cancelled' },
      },
    },
    compensating: {
      on: {
        compensated: { target: 'compensated' },
        cancelled: { target: 'cancelled' },
        compensation_failed: { target: 'compensation_failed' },
      },
    },
    compensation_failed: {
      on: { retry_compensation: { target: 'compensating' }, resolve: { target: 'resolved' } },
    },
    completed: { final: true },
    failed: { final: true },
    compensated: { final: true },
    cancelled: { final: true },
    resolved: { final: true },
  },
});

/** Statuses in which the saga waits for nothing more (compensation_failed waits for an operator). */
export const SETTLED_SAGA_STATUSES: readonly SagaStatus[] = [
  'completed',
  'failed',
  'compensated',
  'cancelled',
  'resolved',
  'compensation_failed',
];
