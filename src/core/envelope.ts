/** The three kinds of message Potter routes. */
export type MessageKind = 'command' | 'query' | 'event';

/** Metadata travelling with every message, in-process and over the wire. */
export interface MessageMetadata {
  /** Id shared by every message caused, directly or not, by the same original message. */
  correlationId: string;
  /** Id of the message whose handling produced this one (absent for an original message). */
  causationId?: string;
  /** When the message was created (ISO-8601). */
  timestamp: string;
  /** W3C trace context of the span that sent the message. */
  traceparent?: string;
  /** Tenant of a multi-tenant application. */
  tenantId?: string;
  /** Schema version of the payload. */
  schemaVersion: number;
  /** User-defined headers. */
  headers: Record<string, string>;
}

/** A message with its identity and metadata: the unit Potter stores and sends. */
export interface MessageEnvelope<TPayload = unknown> {
  /** Unique id (UUID v7). */
  id: string;
  /** Stable type name (never the JS class identity). */
  type: string;
  kind: MessageKind;
  payload: TPayload;
  metadata: MessageMetadata;
}

/** Metadata a caller may set when dispatching; Potter fills in the rest. */
export interface DispatchMetadata {
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  tenantId?: string;
  headers?: Record<string, string>;
}
