import type { MessageContext } from '../core';
import type { HandlerDescriptor, HandlerEntry } from './handler-descriptor';

/**
 * Bus middleware (onion model): do work before and after `next()`, or short-circuit by not calling
 * it. `next` may be called more than once (that is how retries work). The same model serves the
 * command, query and event buses; for events it wraps each handler's delivery.
 */
export type Middleware = (
  context: MessageContext,
  next: () => Promise<unknown>,
  handler: HandlerDescriptor,
) => Promise<unknown>;

/**
 * Middleware that decides per handler whether it applies, once, when the pipeline is built —
 * so a handler pays nothing for middleware that cannot concern it (the built-ins work this way).
 */
export interface MiddlewareFactory {
  /** The middleware to run for this handler, or `undefined` to skip it. */
  forHandler(handler: HandlerDescriptor): Middleware | undefined;
}

/** A middleware function or a {@link MiddlewareFactory}. */
export type MiddlewareLike = Middleware | MiddlewareFactory;

/** The composed pipeline around a handler. @internal */
export type Pipeline = (context: MessageContext, entry: HandlerEntry) => Promise<unknown>;

const callHandler: Pipeline = async (context, entry) => entry.invoke(context.message as object, context);

/**
 * Composes the middleware that applies to `handler`, first outermost, around `terminal` (which calls
 * the handler); `undefined` when none applies (the bus then calls the handler directly). @internal
 */
export function composePipeline(
  middleware: readonly MiddlewareLike[],
  handler: HandlerDescriptor,
  terminal: Pipeline = callHandler,
): Pipeline | undefined {
  const applicable: Middleware[] = [];
  for (const candidate of middleware) {
    const mw = typeof candidate === 'function' ? candidate : candidate.forHandler(handler);
    if (mw) applicable.push(mw);
  }
  if (applicable.length === 0) return undefined;
  let pipeline = terminal;
  for (let i = applicable.length - 1; i >= 0; i--) {
    const mw = applicable[i]!;
    const inner = pipeline;
    pipeline = (context, entry) => mw(context, () => inner(context, entry), entry);
  }
  return pipeline;
}
