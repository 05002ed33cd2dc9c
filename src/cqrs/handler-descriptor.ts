import type { BackoffOptions, MessageContext, MessageKind } from '../core';
import type { Pipeline } from './middleware';

/** What the buses know about one registered handler; passed to middleware. */
export interface HandlerDescriptor {
  kind: MessageKind;
  /** The handled message class. */
  messageClass: Function;
  /** Stable type name of the handled message. */
  messageType: string;
  schemaVersion: number;
  /** `Class.method` of the handler, for errors, logs and topology. */
  handlerName: string;
  /** The message or the handler is marked safe to retry. */
  idempotent: boolean;
  /** Handling deadline in ms, if any. */
  timeoutMs: number | undefined;
  /** Retry policy declared on the handler, if any. */
  retry: BackoffOptions | undefined;
}

/** A handler function bound to its instance (or to a per-message scope). */
export type HandlerFunction = (message: object, context: MessageContext) => unknown;

/** A registered handler. @internal */
export interface HandlerEntry extends HandlerDescriptor {
  invoke: HandlerFunction;
  /** The handler function declares a context parameter (or needs one for its scope). */
  acceptsContext: boolean;
  /** Pipeline cache: built for `pipelineVersion` of the bus's middleware list. */
  pipeline?: Pipeline | undefined;
  pipelineVersion?: number;
}
