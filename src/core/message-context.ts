import { AsyncLocalStorage } from 'node:async_hooks';
import type { DispatchMetadata, MessageEnvelope, MessageKind, MessageMetadata } from './envelope';
import { newId } from './ids';

const storage = new AsyncLocalStorage<MessageContext>();

/**
 * Everything known about the message being handled: its id, type, correlation and causation ids
 * and headers. Handlers receive it as their second argument; per-message providers can inject it.
 *
 * Ids and timestamps are computed on first read, so dispatch stays cheap when nobody looks.
 */
export class MessageContext<TMessage = unknown> {
  readonly kind: MessageKind;
  readonly type: string;
  readonly message: TMessage;
  readonly schemaVersion: number;
  /** The context of the message whose handler dispatched this one. */
  readonly parent: MessageContext | undefined;
  /** Signals cancellation (for example a timeout); set by middleware that can cancel. */
  signal: AbortSignal | undefined;
  /** `Class.method` of the handler handling this message, once routed. */
  handlerName: string | undefined;
  // Plain (not #private) fields: this class is created on every dispatch and must stay cheap.
  private _id: string | undefined;
  private _correlationId: string | undefined;
  private _causationId: string | undefined;
  private _createdAt: number | undefined;
  private readonly _dispatch: DispatchMetadata | undefined;
  private _items: Map<unknown, unknown> | undefined;

  constructor(
    kind: MessageKind,
    type: string,
    message: TMessage,
    schemaVersion: number,
    dispatch: DispatchMetadata | undefined,
    parent: MessageContext | undefined,
    id?: string,
    createdAt?: number,
  ) {
    this.kind = kind;
    this.type = type;
    this.message = message;
    this.schemaVersion = schemaVersion;
    this.parent = parent;
    this.signal = undefined;
    this.handlerName = undefined;
    this._dispatch = dispatch;
    this._id = id;
    this._correlationId = undefined;
    this._causationId = undefined;
    this._items = undefined;
    // Events are stamped when published; commands and queries, handled at once, when first read
    // (a clock read costs as much as the rest of a dispatch).
    this._createdAt = createdAt ?? (kind === 'event' ? Date.now() : undefined);
  }

  /** Unique id of this message (UUID v7). */
  get id(): string {
    return (this._id ??= newId());
  }

  /** Shared by the whole causal chain; the first message's id unless the caller set one. */
  get correlationId(): string {
    return (this._correlationId ??= this._dispatch?.correlationId ?? this.parent?.correlationId ?? this.id);
  }

  /** Id of the message whose handling dispatched this one. */
  get causationId(): string | undefined {
    if (this._causationId === undefined) this._causationId = this._dispatch?.causationId ?? this.parent?.id;
    return this._causationId;
  }

  /**
   * Time of the message in milliseconds since the epoch: for events, when published; for commands
   * and queries (handled at once), when first read.
   */
  get createdAt(): number {
    return (this._createdAt ??= Date.now());
  }

  /** Full metadata, as carried in an envelope. */
  get metadata(): MessageMetadata {
    const dispatch = this._dispatch;
    const metadata: MessageMetadata = {
      correlationId: this.correlationId,
      timestamp: new Date(this.createdAt).toISOString(),
      schemaVersion: this.schemaVersion,
      headers: { ...this.parent?.metadata.headers, ...dispatch?.headers },
    };
    const causationId = this.causationId;
    if (causationId !== undefined) metadata.causationId = causationId;
    const traceparent = dispatch?.traceparent ?? this.parent?.metadata.traceparent;
    if (traceparent !== undefined) metadata.traceparent = traceparent;
    const tenantId = dispatch?.tenantId ?? this.parent?.metadata.tenantId;
    if (tenantId !== undefined) metadata.tenantId = tenantId;
    return metadata;
  }

  /** The message as an envelope whose payload is the message itself. */
  toEnvelope(): MessageEnvelope<TMessage> {
    return { id: this.id, type: this.type, kind: this.kind, payload: this.message, metadata: this.metadata };
  }

  /** A copy with the same id, metadata and parent, for one of several handlers of the same message. */
  fork(): MessageContext<TMessage> {
    return new MessageContext(
      this.kind,
      this.type,
      this.message,
      this.schemaVersion,
      this._dispatch,
      this.parent,
      this.id,
      this.createdAt,
    );
  }

  /** Attaches a value for the rest of this message's handling (middleware → handler). */
  set(key: unknown, value: unknown): void {
    (this._items ??= new Map()).set(key, value);
  }

  /** Reads a value attached with {@link MessageContext.set}. */
  get<T = unknown>(key: unknown): T | undefined {
    return this._items?.get(key) as T | undefined;
  }
}

/** The context of the message currently being handled, if any (follows `await` and `Promise.all`). */
export function currentMessageContext(): MessageContext | undefined {
  return storage.getStore();
}

/** Runs `fn(...args)` with `context` as the current message context. @internal */
export function runInMessageContext<TArgs extends unknown[], T>(
  context: MessageContext,
  fn: (...args: TArgs) => T,
  ...args: TArgs
): T {
  return storage.run(context, fn, ...args);
}
