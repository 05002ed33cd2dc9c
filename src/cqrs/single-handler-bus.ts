import type { DispatchMetadata } from '../core/envelope';
import { DuplicateHandlerError, HandlerNotFoundError } from '../core/errors';
import type { ResultOf } from '../core/messages';
import { metadataRegistry } from '../metadata';
import type { HandlerEntry } from './handler-descriptor';
import { MessageBusBase } from './message-bus-base';

/** Options of one dispatch. */
export interface ExecuteOptions {
  /** Correlation id, headers, tenant… (by default inherited from the message being handled). */
  metadata?: DispatchMetadata;
}

/** Base of the command and query buses: exactly one handler per message class. @internal */
export abstract class SingleHandlerBus extends MessageBusBase {
  protected abstract override readonly kind: 'command' | 'query';
  readonly #handlers = new Map<Function, HandlerEntry>();

  /** Registers the handler of a message class; a second one raises `DuplicateHandlerError`. */
  register(messageClass: Function, entry: HandlerEntry): void {
    const existing = this.#handlers.get(messageClass);
    if (existing)
      throw new DuplicateHandlerError(this.kind, entry.messageType, [
        existing.handlerName,
        entry.handlerName,
      ]);
    this.#handlers.set(messageClass, entry);
  }

  /** True when a handler is registered for the class. */
  has(messageClass: Function): boolean {
    return this.#handlers.has(messageClass);
  }

  /** Descriptors of every registered handler. */
  handlers(): HandlerEntry[] {
    return [...this.#handlers.values()];
  }

  /** Sends a message to its handler and resolves with the handler's result. */
  execute<TMessage extends object>(message: TMessage, options?: ExecuteOptions): Promise<ResultOf<TMessage>> {
    if (message === null || typeof message !== 'object') return Promise.reject(this.invalid(message));
    const entry = this.#handlers.get(message.constructor);
    if (entry === undefined) return Promise.reject(this.#notFound(message));
    if (this.gate.state !== 'open') {
      try {
        this.gate.check(entry.messageType);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const pipeline = this.pipelineOf(entry);
    const context =
      pipeline !== undefined || this.propagate || entry.acceptsContext
        ? this.createContext(entry, message, options?.metadata)
        : undefined;
    return this.run(entry, pipeline, message, context) as Promise<ResultOf<TMessage>>;
  }

  #notFound(message: object): Error {
    const record = metadataRegistry.getMessage(message.constructor);
    if (record === undefined || record.kind !== this.kind) return this.invalid(message);
    return new HandlerNotFoundError(this.kind, record.typeName);
  }
}
