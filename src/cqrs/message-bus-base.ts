// Hot path: import from the defining files, not the barrel (CommonJS re-exports are getters).
import type { DispatchMetadata, MessageKind } from '../core/envelope';
import { InvalidMessageError } from '../core/errors';
import { MessageContext, currentMessageContext, runInMessageContext } from '../core/message-context';
import type { DispatchGate } from './dispatch-gate';
import type { HandlerEntry } from './handler-descriptor';
import { composePipeline, type MiddlewareLike, type Pipeline } from './middleware';
import type { TopologyRecorder } from './topology-recorder';

/** Options shared by the buses. */
export interface BusOptions {
  /** Middleware, outermost first. */
  middleware?: MiddlewareLike[];
  /**
   * Runs each handler inside its message context (AsyncLocalStorage), so messages it sends carry the
   * correlation and causation ids automatically. @default true
   */
  propagateContext?: boolean;
}

/** Calls the handler, through its pipeline when it has one. */
function invokeEntry(
  entry: HandlerEntry,
  pipeline: Pipeline | undefined,
  message: object,
  context: MessageContext | undefined,
): unknown {
  return pipeline === undefined ? entry.invoke(message, context!) : pipeline(context!, entry);
}

/** Shared machinery of the buses. @internal */
export abstract class MessageBusBase {
  protected readonly gate: DispatchGate;
  protected readonly topology: TopologyRecorder | undefined;
  protected readonly propagate: boolean;
  readonly #middleware: MiddlewareLike[];
  #version = 0;
  readonly #leave: () => void;
  /**
   * Innermost step of a pipeline: the handler call itself counts as in flight, so `stop()` also
   * waits for a handler whose caller already gave up on it (timeout) until it really finishes.
   */
  readonly #terminal: Pipeline;
  protected abstract readonly kind: MessageKind;

  constructor(gate: DispatchGate, options: BusOptions = {}, topology?: TopologyRecorder) {
    this.gate = gate;
    this.topology = topology;
    this.propagate = options.propagateContext ?? true;
    this.#middleware = [...(options.middleware ?? [])];
    this.#leave = () => gate.leave();
    this.#terminal = (context, entry) => {
      gate.enter();
      try {
        return this.#track(entry.invoke(context.message as object, context));
      } catch (error) {
        gate.leave();
        return Promise.reject(error);
      }
    };
  }

  /**
   * Leaves the gate when `result` settles and returns it as a promise. The leave reaction is
   * attached beside the caller's (not chained in front of it), so it adds no tick to the caller.
   */
  #track(result: unknown): Promise<unknown> {
    if (result instanceof Promise) {
      result.then(this.#leave, this.#leave);
      return result;
    }
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as PromiseLike<unknown>).then === 'function'
    ) {
      const promise = Promise.resolve(result);
      promise.then(this.#leave, this.#leave);
      return promise;
    }
    this.gate.leave();
    return Promise.resolve(result);
  }

  /** Appends middleware (innermost so far). */
  use(...middleware: MiddlewareLike[]): this {
    this.#middleware.push(...middleware);
    this.#version++;
    return this;
  }

  /** The middleware, outermost first. */
  get middleware(): readonly MiddlewareLike[] {
    return this.#middleware;
  }

  /** The handler's pipeline for the current middleware list (built once, then cached). */
  protected pipelineOf(entry: HandlerEntry): Pipeline | undefined {
    if (entry.pipelineVersion !== this.#version) {
      entry.pipeline = composePipeline(this.#middleware, entry, this.#terminal);
      entry.pipelineVersion = this.#version;
    }
    return entry.pipeline;
  }

  /**
   * Runs one handler for one message: context, middleware, in-flight accounting. `context` may be
   * undefined only when nothing can observe it (no pipeline, no propagation, handler ignores it).
   */
  protected run(
    entry: HandlerEntry,
    pipeline: Pipeline | undefined,
    message: object,
    context: MessageContext | undefined,
  ): Promise<unknown> {
    const gate = this.gate;
    gate.enter();
    let result: unknown;
    try {
      result =
        this.propagate && context !== undefined
          ? runInMessageContext(context, invokeEntry, entry, pipeline, message, context)
          : invokeEntry(entry, pipeline, message, context);
    } catch (error) {
      gate.leave();
      return Promise.reject(error);
    }
    return this.#track(result);
  }

  /** Creates the context of a message about to be handled. */
  protected createContext(
    entry: HandlerEntry,
    message: object,
    dispatch: DispatchMetadata | undefined,
  ): MessageContext {
    const parent = currentMessageContext();
    const context = new MessageContext(
      this.kind,
      entry.messageType,
      message,
      entry.schemaVersion,
      dispatch,
      parent,
    );
    context.handlerName = entry.handlerName;
    if (parent !== undefined && parent.handlerName !== undefined) {
      this.topology?.observe(parent.handlerName, this.kind, entry.messageType);
    }
    return context;
  }

  protected invalid(message: unknown): Error {
    return new InvalidMessageError(message, this.kind);
  }
}
