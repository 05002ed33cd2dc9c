/**
 * What the timer services share: checking a timer before it is stored, and the delay before a
 * failed firing is retried.
 * @internal
 */
import { backoffDelay, resolveBackoff, type BackoffOptions, type ResolvedBackoff } from '../core/backoff';
import { ConfigurationError, ValidationError, type FieldViolation } from '../core/errors';

/**
 * Backoff of a timer whose handler threw: `initialDelayMs × multiplier^(attempts−1)`, capped at
 * `maxDelayMs`, jittered. A timer is never given up (it has nowhere to go, and a saga may depend on
 * it), so there is no `maxAttempts`: a handler that wants to give up looks at `firing.attempt`
 * and returns without throwing.
 */
export type TimerRetryOptions = Omit<BackoffOptions, 'maxAttempts'>;

/** The retry defaults of the timer services: 1 s, doubling, at most 5 minutes, `equal` jitter. */
export const DEFAULT_TIMER_RETRY: Required<TimerRetryOptions> = {
  initialDelayMs: 1000,
  maxDelayMs: 300_000,
  multiplier: 2,
  jitter: 'equal',
};

/** Fills the defaults in and checks the values. @internal */
export function resolveTimerRetry(options: TimerRetryOptions = {}): ResolvedBackoff {
  return resolveBackoff({ ...DEFAULT_TIMER_RETRY, ...definedOnly(options), maxAttempts: 1 });
}

/** The delay before the next firing of a timer that has now failed `attempts` times. @internal */
export function timerRetryDelay(retry: ResolvedBackoff, attempts: number, random?: () => number): number {
  return Math.max(0, Math.round(backoffDelay(retry, Math.max(1, attempts), random)));
}

/** A timer checked and ready to be stored. @internal */
export interface NormalizedTimer {
  id: string;
  kind: string;
  dueAt: number;
  /** The payload as JSON (`null` when none was given). */
  payloadJson: string;
}

/** Checks what `schedule` was given. @internal */
export function normalizeTimer(timer: {
  id: string;
  kind: string;
  dueAt: Date | number;
  payload?: unknown;
}): NormalizedTimer {
  const violations: FieldViolation[] = [];
  if (typeof timer.id !== 'string' || timer.id === '') {
    violations.push({ path: 'id', value: timer.id, constraints: { required: 'must be a non-empty string' } });
  }
  if (typeof timer.kind !== 'string' || timer.kind === '') {
    violations.push({
      path: 'kind',
      value: timer.kind,
      constraints: { required: 'must be a non-empty string' },
    });
  }
  const dueAt = timer.dueAt instanceof Date ? timer.dueAt.getTime() : timer.dueAt;
  if (typeof dueAt !== 'number' || !Number.isFinite(dueAt) || Math.abs(dueAt) > 8.64e15) {
    violations.push({
      path: 'dueAt',
      value: String(timer.dueAt),
      constraints: { valid: 'must be a valid Date or a finite number of ms since the epoch' },
    });
  }
  let payloadJson = 'null';
  try {
    payloadJson = JSON.stringify(timer.payload ?? null) ?? 'null';
  } catch (error) {
    violations.push({
      path: 'payload',
      constraints: {
        json: `must be JSON-serializable (${error instanceof Error ? error.message : 'failed'})`,
      },
    });
  }
  if (violations.length > 0) throw new ValidationError('DurableTimer', violations);
  return { id: timer.id, kind: timer.kind, dueAt: Math.floor(dueAt as number), payloadJson };
}

/** Checks a handler registration. @internal */
export function checkHandlerKind(kind: string, known: ReadonlyMap<string, unknown>): void {
  if (typeof kind !== 'string' || kind === '') {
    throw new ConfigurationError('A timer kind must be a non-empty string.', { kind });
  }
  if (known.has(kind)) {
    throw new ConfigurationError(`Timer kind "${kind}" already has a handler (one handler per kind).`, {
      kind,
    });
  }
}

/** The text stored as a failed firing's `last_error`. @internal */
export function describeFailure(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

/** The longest delay `setTimeout` accepts; later wake-ups are re-armed in steps. @internal */
export const MAX_TIMEOUT_MS = 2_147_483_647;

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
