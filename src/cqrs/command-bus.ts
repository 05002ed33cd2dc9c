import type { ResultOf } from '../core';
import { SingleHandlerBus, type ExecuteOptions } from './single-handler-bus';

/**
 * Sends each command to its one handler, through the middleware pipeline, and resolves with the
 * handler's declared result type (`TypedCommand<TResult>`).
 */
export class CommandBus extends SingleHandlerBus {
  protected readonly kind = 'command';

  /** Executes a command and resolves with its handler's result; rejects with the handler's error. */
  override execute<TCommand extends object>(
    command: TCommand,
    options?: ExecuteOptions,
  ): Promise<ResultOf<TCommand>> {
    return super.execute(command, options);
  }
}
