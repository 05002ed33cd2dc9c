import { TimeoutError } from '../../core';
import type { Middleware, MiddlewareFactory } from '../middleware';

/** Options of {@link timeoutMiddleware}. */
export interface TimeoutMiddlewareOptions {
  /** Deadline for messages and handlers that declare none; `undefined` means no deadline. */
  defaultTimeoutMs?: number;
}

/**
 * Rejects with `TimeoutError` when a handler exceeds its deadline (handler option `timeoutMs`, then
 * the message's `@Command({ timeoutMs })`, then the default), and aborts `context.signal` so the
 * handler can stop its work.
 */
export function timeoutMiddleware(options: TimeoutMiddlewareOptions = {}): MiddlewareFactory {
  const middleware: Middleware = (context, next, handler) => {
    const timeoutMs = (handler.timeoutMs ?? options.defaultTimeoutMs)!;
    const controller = new AbortController();
    const outer = context.signal;
    if (outer) {
      if (outer.aborted) controller.abort(outer.reason);
      else outer.addEventListener('abort', () => controller.abort(outer.reason), { once: true });
    }
    context.signal = controller.signal;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new TimeoutError(`${handler.handlerName} handling ${handler.messageType}`, timeoutMs);
        controller.abort(error);
        reject(error);
      }, timeoutMs);
      next().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  };
  return {
    forHandler: (handler) =>
      (handler.timeoutMs ?? options.defaultTimeoutMs) === undefined ? undefined : middleware,
  };
}
