import {
  PotterError,
  backoffDelay,
  resolveBackoff,
  sleep,
  type BackoffOptions,
  type ErrorCode,
  type MessageContext,
} from '../../core';
import type { HandlerDescriptor } from '../handler-descriptor';
import type { Middleware, MiddlewareFactory } from '../middleware';

/** Codes that retrying cannot fix. */
const NEVER_RETRIED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'POTTER_VALIDATION_FAILED',
  'POTTER_HANDLER_NOT_FOUND',
  'POTTER_INVALID_MESSAGE',
  'POTTER_APP_NOT_RUNNING',
  'POTTER_TIMEOUT',
]);

/** Options of {@link retryMiddleware}. */
export interface RetryMiddlewareOptions extends BackoffOptions {
  /** Which errors are worth retrying. @default every error except validation, routing and timeout errors */
  retryable?: (error: unknown, context: MessageContext) => boolean;
  /** Called before each retry (for logs and metrics). */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number; handler: HandlerDescriptor }) => void;
  /** Source of randomness for jitter (tests). @default Math.random */
  random?: () => number;
}

/** The default `retryable` predicate. */
export function isRetryableByDefault(error: unknown): boolean {
  return !(error instanceof PotterError && NEVER_RETRIED.has(error.code));
}

/**
 * Retries failed handling with exponential backoff and jitter — only for messages or handlers marked
 * idempotent (`@Command({ idempotent: true })` or handler option `idempotent`), since re-running
 * anything else could repeat its effects. The handler's own `retry` option overrides these defaults.
 */
export function retryMiddleware(options: RetryMiddlewareOptions = {}): MiddlewareFactory {
  const defaults = resolveBackoff(options);
  const retryable = options.retryable ?? isRetryableByDefault;
  const random = options.random ?? Math.random;
  const middleware: Middleware = async (context, next, handler) => {
    const backoff = handler.retry ? resolveBackoff({ ...defaults, ...handler.retry }) : defaults;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next();
      } catch (error) {
        if (attempt >= backoff.maxAttempts || !retryable(error, context) || context.signal?.aborted)
          throw error;
        const delayMs = backoffDelay(backoff, attempt, random);
        options.onRetry?.({ error, attempt, delayMs, handler });
        await sleep(delayMs, context.signal);
      }
    }
  };
  return { forHandler: (handler) => (handler.idempotent ? middleware : undefined) };
}
