import type { ResultOf } from '../core';
import { SingleHandlerBus, type ExecuteOptions } from './single-handler-bus';

/** Sends each query to its one handler and resolves with the declared result type (`TypedQuery<TResult>`). */
export class QueryBus extends SingleHandlerBus {
  protected readonly kind = 'query';

  /** Executes a query and resolves with its handler's result. */
  override execute<TQuery extends object>(
    query: TQuery,
    options?: ExecuteOptions,
  ): Promise<ResultOf<TQuery>> {
    return super.execute(query, options);
  }
}
