declare const RESULT: unique symbol;

/**
 * Optional base class of commands that declares the handler's result type, so
 * `commandBus.execute(new OpenAccount(…))` (`class OpenAccount extends TypedCommand<string>`) is typed `Promise<TResult>`.
 */
export abstract class TypedCommand<TResult = void> {
  /** Type-level only: never set at run time. */
  declare readonly [RESULT]?: (result: TResult) => TResult;
}

/** Optional base class of queries that declares the result type of `queryBus.execute`. */
export abstract class TypedQuery<TResult = unknown> {
  /** Type-level only: never set at run time. */
  declare readonly [RESULT]?: (result: TResult) => TResult;
}

/** The declared result type of a command or query (`unknown` when it declares none). */
export type ResultOf<TMessage> = TMessage extends { readonly [RESULT]?: (result: infer R) => unknown }
  ? R
  : unknown;
