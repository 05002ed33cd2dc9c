import type { MessageContext } from '../core/message-context';

/** The header of a command dispatched by a saga step that names the saga (`StepArgs.dispatch`). */
export const SAGA_ID_HEADER = 'potter-saga-id';

/**
 * The header of a command dispatched by a saga step that carries the step's idempotency key: the
 * same for every attempt of the step, including after a crash. A handler applies the command once
 * per key.
 */
export const IDEMPOTENCY_KEY_HEADER = 'potter-idempotency-key';

/** The idempotency key of the message being handled (set by saga steps), if it has one. */
export function idempotencyKeyOf(context: Pick<MessageContext, 'metadata'>): string | undefined {
  return context.metadata.headers?.[IDEMPOTENCY_KEY_HEADER];
}

/** The id of the saga that dispatched the message being handled, if a saga step did. */
export function sagaIdOf(context: Pick<MessageContext, 'metadata'>): string | undefined {
  return context.metadata.headers?.[SAGA_ID_HEADER];
}
