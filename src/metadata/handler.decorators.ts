import type { Constructor, MessageKind } from '../core';
import { HANDLER } from './keys';
import { metadataRegistry } from './metadata-registry';
import type { HandlerOptions } from './records';

/** A decorator usable on a class (handled by `execute`/`handle`) or on a method. */
export type ClassOrMethodDecorator = (
  target: object,
  propertyKey?: string | symbol,
  descriptor?: PropertyDescriptor,
) => void;

function handlerDecorator(
  kind: MessageKind,
  messages: Constructor[],
  options: HandlerOptions,
): ClassOrMethodDecorator {
  return (target, propertyKey) => {
    const classLevel = propertyKey === undefined;
    const host = classLevel ? (target as Function) : (target as object).constructor;
    const method = propertyKey ?? (kind === 'event' ? 'handle' : 'execute');
    for (const message of messages) {
      metadataRegistry.add(HANDLER, host, { kind, message, method, classLevel, options });
    }
  };
}

/**
 * Declares the handler of a command: on a class, its `execute(command, context)` method handles it;
 * on a method, that method does. A command has exactly one handler.
 */
export function CommandHandler(command: Constructor, options: HandlerOptions = {}): ClassOrMethodDecorator {
  return handlerDecorator('command', [command], options);
}

/** Declares the handler of a query (class with `execute`, or a method). A query has exactly one. */
export function QueryHandler(query: Constructor, options: HandlerOptions = {}): ClassOrMethodDecorator {
  return handlerDecorator('query', [query], options);
}

/**
 * Declares a handler of one or more events (class with `handle`, or a method). An event may have
 * any number of handlers; each runs isolated, with its own retry policy.
 */
export function EventHandler(
  events: Constructor | Constructor[],
  options: HandlerOptions = {},
): ClassOrMethodDecorator {
  return handlerDecorator('event', Array.isArray(events) ? events : [events], options);
}
