import {
  EventHandler,
  SagaCancelled,
  SagaCompensated,
  SagaCompensationCompleted,
  SagaCompensationExhausted,
  SagaCompensationFailed,
  SagaCompensationStarted,
  SagaCompleted,
  SagaFailed,
  SagaResolved,
  SagaStarted,
  SagaStepCompleted,
  SagaStepFailed,
  SagaStepSkipped,
  SagaStepStarted,
  type SagaBusEvent,
  type SagaErrorInfo,
} from 'potter';

/**
 * Prints the saga events that `SagaModule` publishes on the EventBus, one line each, tagged with
 * the correlation id (the order id here). Any event handler can react to them the same way: to
 * notify a customer, feed a dashboard, or alert on `SagaCompensationExhausted`.
 */
@EventHandler([
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
])
export class SagaTrace {
  handle(event: SagaBusEvent): void {
    console.log(`  [saga] ${event.correlationId} ${describe(event)}`);
  }
}

function describe(event: SagaBusEvent): string {
  const error = (info: SagaErrorInfo | undefined): string =>
    info === undefined ? '' : `${info.name}: ${info.message}`;
  if (event instanceof SagaStarted) return 'started';
  if (event instanceof SagaStepStarted) return `${event.step}: attempt ${event.attempt}`;
  if (event instanceof SagaStepCompleted) return `${event.step}: done`;
  if (event instanceof SagaStepFailed) {
    return `${event.step}: attempt ${event.attempt} failed, ${event.willRetry ? 'will retry' : 'no retry'} (${error(event.error)})`;
  }
  if (event instanceof SagaStepSkipped) return `${event.step}: skipped`;
  if (event instanceof SagaCompensationStarted) return `undo ${event.step}: attempt ${event.attempt}`;
  if (event instanceof SagaCompensationCompleted) return `undo ${event.step}: done`;
  if (event instanceof SagaCompensationFailed) {
    return `undo ${event.step}: attempt ${event.attempt} failed, ${event.willRetry ? 'will retry' : 'no retry'} (${error(event.error)})`;
  }
  if (event instanceof SagaCompleted) return 'completed';
  if (event instanceof SagaFailed) {
    return event.status === 'compensating'
      ? `failed, compensating (${error(event.error)})`
      : `failed (${error(event.error)})`;
  }
  if (event instanceof SagaCompensated) return 'compensated';
  if (event instanceof SagaCancelled) return 'cancelled';
  if (event instanceof SagaCompensationExhausted) {
    return `compensation failed: waiting for an operator (${error(event.error)})`;
  }
  return 'resolved by an operator';
}
