import type { MessageContext } from '../core/message-context';
import type { ResultOf } from '../core/messages';

/**
 * Implemented by a class-level `@CommandHandler(C)`: the compiler then checks that `execute` returns
 * the result type the command declares (`TypedCommand<R>`).
 */
export interface HandlesCommand<TCommand extends object, TResult = ResultOf<TCommand>> {
  execute(command: TCommand, context: MessageContext<TCommand>): TResult | Promise<TResult>;
}

/** Implemented by a class-level `@QueryHandler(Q)`; checks the declared result type (`TypedQuery<R>`). */
export interface HandlesQuery<TQuery extends object, TResult = ResultOf<TQuery>> {
  execute(query: TQuery, context: MessageContext<TQuery>): TResult | Promise<TResult>;
}

/** Implemented by a class-level `@EventHandler(E)`. */
export interface HandlesEvent<TEvent extends object> {
  handle(event: TEvent, context: MessageContext<TEvent>): void | Promise<void>;
}
