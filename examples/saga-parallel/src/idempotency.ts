import { idempotencyKeyOf as sagaStepKeyOf, type MessageContext } from 'potter';

/**
 * The key a command is applied once by: the saga step's idempotency key (header
 * `potter-idempotency-key`: `<sagaId>:<step>`, or `<sagaId>:<step>:compensate`; the same when the
 * step is retried or re-run after a crash), else the command's own id.
 */
export function idempotencyKeyOf(context: MessageContext): string {
  return sagaStepKeyOf(context) ?? context.id;
}

/**
 * The commands a participant has applied, by idempotency key, with their results. In memory here;
 * a real service keeps them in its database, written in the same transaction as the effect.
 */
export class AppliedCommands {
  readonly #results = new Map<string, unknown>();

  /**
   * Runs `apply` unless a command with this key was applied already. Returns the first result
   * either way, and whether this delivery was a repeat.
   */
  once<R>(key: string, apply: () => R): { result: R; repeated: boolean } {
    if (this.#results.has(key)) return { result: this.#results.get(key) as R, repeated: true };
    const result = apply();
    this.#results.set(key, result);
    return { result, repeated: false };
  }
}
