import { ConfigurationError } from './errors';

/** Exponential backoff with jitter. */
export interface BackoffOptions {
  /** Total attempts including the first. @default 3 */
  maxAttempts?: number;
  /** Delay before the first retry, in ms. @default 50 */
  initialDelayMs?: number;
  /** Upper bound of any delay, in ms. @default 5000 */
  maxDelayMs?: number;
  /** Growth factor between retries. @default 2 */
  multiplier?: number;
  /** `full`: random in [0, delay]; `equal`: delay/2 + random(delay/2); `none`. @default 'full' */
  jitter?: 'full' | 'equal' | 'none';
}

/** Backoff options with every default filled in. */
export type ResolvedBackoff = Required<BackoffOptions>;

/** Fills defaults and checks the values. */
export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const resolved: ResolvedBackoff = {
    maxAttempts: options.maxAttempts ?? 3,
    initialDelayMs: options.initialDelayMs ?? 50,
    maxDelayMs: options.maxDelayMs ?? 5000,
    multiplier: options.multiplier ?? 2,
    jitter: options.jitter ?? 'full',
  };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) {
    throw new ConfigurationError('maxAttempts must be an integer >= 1', {
      maxAttempts: resolved.maxAttempts,
    });
  }
  if (resolved.initialDelayMs < 0 || resolved.maxDelayMs < 0 || resolved.multiplier < 1) {
    throw new ConfigurationError('Backoff delays must be >= 0 and the multiplier >= 1', { ...resolved });
  }
  return resolved;
}

/**
 * Delay before retry number `retry` (1 = the first retry): `initial × multiplier^(retry−1)`,
 * capped at `maxDelayMs`, then jittered. `random` is injectable for tests.
 */
export function backoffDelay(
  backoff: ResolvedBackoff,
  retry: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * Math.pow(backoff.multiplier, retry - 1));
  switch (backoff.jitter) {
    case 'none':
      return base;
    case 'equal':
      return base / 2 + random() * (base / 2);
    case 'full':
      return random() * base;
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
