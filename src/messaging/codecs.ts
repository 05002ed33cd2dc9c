import type { MessageEnvelope, MessageKind, MessageMetadata } from '../core/envelope';
import { MissingDependencyError, SerializationError } from '../core/errors';

/**
 * Turns envelopes into broker message bodies and back. A bus uses one codec for everything it
 * publishes; the whole envelope (id, type, kind, payload, metadata) travels in the body, and the
 * headers of {@link envelopeHeaders} are derived from it (adapters store few of them on the wire).
 */
export interface MessageCodec {
  /** Short name for logs and errors (`json`, `msgpack`). */
  readonly name: string;
  /** The `content-type` header of the messages it encodes. */
  readonly contentType: string;
  /** Encodes an envelope; throws {@link SerializationError} when it cannot be represented. */
  encode(envelope: MessageEnvelope): Buffer;
  /**
   * Decodes a message body into a checked envelope. Throws {@link SerializationError} with the
   * reason when the bytes are not an envelope in this codec's format (bad syntax, missing or
   * ill-typed fields, or a `content-type` header naming another format).
   */
  decode(bytes: Buffer, headers?: Readonly<Record<string, string>>): MessageEnvelope;
}

/**
 * The names of Potter's own headers, as handlers see them in `BrokerMessage.headers` (derived from
 * the envelope on read; which of them an adapter also stores on the broker: docs/messaging.md).
 */
export const POTTER_HEADERS = {
  id: 'potter-id',
  type: 'potter-type',
  schemaVersion: 'potter-schema-version',
  kind: 'potter-kind',
  contentType: 'content-type',
  traceparent: 'traceparent',
} as const;

/**
 * The headers of an envelope, as a handler sees them: the user headers of `metadata.headers`, then `extra` (a
 * publish call's headers), then Potter's own (`potter-id`, `potter-type`, `potter-schema-version`,
 * `potter-kind`, `content-type`, and `traceparent` when the envelope has one), which win over both.
 */
export function envelopeHeaders(
  envelope: MessageEnvelope,
  codec: MessageCodec,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const headers: Record<string, string> = { ...envelope.metadata.headers, ...extra };
  headers[POTTER_HEADERS.id] = envelope.id;
  headers[POTTER_HEADERS.type] = envelope.type;
  headers[POTTER_HEADERS.schemaVersion] = String(envelope.metadata.schemaVersion);
  headers[POTTER_HEADERS.kind] = envelope.kind;
  headers[POTTER_HEADERS.contentType] = codec.contentType;
  if (envelope.metadata.traceparent !== undefined) {
    headers[POTTER_HEADERS.traceparent] = envelope.metadata.traceparent;
  }
  return headers;
}

const KINDS: ReadonlySet<string> = new Set<MessageKind>(['command', 'query', 'event']);

/** The message of an error (duck-typed: errors may come from another realm). */
function reasonOf(cause: unknown): string {
  const message = (cause as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(cause);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(codec: string, reason: string, cause?: unknown): SerializationError {
  return new SerializationError(`Cannot decode a ${codec} message: ${reason}.`, {
    details: { codec, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

function optionalString(
  codec: string,
  source: Record<string, unknown>,
  field: string,
  target: Record<string, unknown>,
): void {
  const value = source[field];
  if (value === undefined || value === null) return;
  if (typeof value !== 'string') throw invalid(codec, `metadata.${field} is not a string`);
  target[field] = value;
}

/**
 * Checks that a decoded value has the shape of a {@link MessageEnvelope} and returns a clean copy
 * (known fields only). Throws {@link SerializationError} naming the first problem found.
 */
export function toMessageEnvelope(value: unknown, codec = 'message'): MessageEnvelope {
  if (!isRecord(value)) throw invalid(codec, 'the body is not an object');
  const { id, type, kind, metadata } = value;
  if (typeof id !== 'string' || id === '') throw invalid(codec, '"id" is missing or not a string');
  if (typeof type !== 'string' || type === '') throw invalid(codec, '"type" is missing or not a string');
  if (typeof kind !== 'string' || !KINDS.has(kind)) {
    throw invalid(codec, '"kind" is not one of command, query, event');
  }
  if (!('payload' in value) || value.payload === undefined) throw invalid(codec, '"payload" is missing');
  if (!isRecord(metadata)) throw invalid(codec, '"metadata" is missing or not an object');
  const { correlationId, timestamp, schemaVersion, headers } = metadata;
  if (typeof correlationId !== 'string') throw invalid(codec, 'metadata.correlationId is not a string');
  if (typeof timestamp !== 'string') throw invalid(codec, 'metadata.timestamp is not a string');
  if (typeof schemaVersion !== 'number' || !Number.isInteger(schemaVersion)) {
    throw invalid(codec, 'metadata.schemaVersion is not an integer');
  }
  const userHeaders: Record<string, string> = {};
  if (headers !== undefined) {
    if (!isRecord(headers)) throw invalid(codec, 'metadata.headers is not an object');
    for (const name in headers) {
      if (!Object.prototype.hasOwnProperty.call(headers, name)) continue;
      const header = headers[name];
      if (typeof header !== 'string') throw invalid(codec, `metadata.headers["${name}"] is not a string`);
      userHeaders[name] = header;
    }
  }
  const cleanMetadata: Record<string, unknown> = { correlationId, timestamp, schemaVersion };
  optionalString(codec, metadata, 'causationId', cleanMetadata);
  optionalString(codec, metadata, 'traceparent', cleanMetadata);
  optionalString(codec, metadata, 'tenantId', cleanMetadata);
  cleanMetadata.headers = userHeaders;
  return {
    id,
    type,
    kind: kind as MessageKind,
    payload: value.payload,
    metadata: cleanMetadata as unknown as MessageMetadata,
  };
}

function checkContentType(codec: MessageCodec, headers: Readonly<Record<string, string>> | undefined): void {
  const contentType = headers?.[POTTER_HEADERS.contentType];
  if (contentType !== undefined && contentType !== codec.contentType) {
    throw invalid(
      codec.name,
      `its content-type is "${contentType}", this bus decodes "${codec.contentType}"`,
    );
  }
}

function checkEncodable(codec: string, envelope: MessageEnvelope): void {
  if (envelope.payload === undefined) {
    throw new SerializationError(
      `Cannot encode message ${envelope.id} (${envelope.type}) with ${codec}: its payload is undefined.`,
      { details: { codec, id: envelope.id, type: envelope.type } },
    );
  }
}

function encodeFailure(codec: string, envelope: MessageEnvelope, cause: unknown): SerializationError {
  const reason = reasonOf(cause);
  return new SerializationError(
    `Cannot encode message ${envelope.id} (${envelope.type}) with ${codec}: ${reason}`,
    { details: { codec, id: envelope.id, type: envelope.type }, cause },
  );
}

/**
 * {@link jsonCodec}'s encoding as a string (the same bytes once UTF-8 encoded), for clients that
 * write strings more cheaply than Buffers (node-redis). @internal
 */
export function encodeJsonText(envelope: MessageEnvelope): string {
  checkEncodable('json', envelope);
  try {
    return JSON.stringify(envelope);
  } catch (cause) {
    throw encodeFailure('json', envelope, cause);
  }
}

/** The default codec: the envelope as UTF-8 JSON (`application/json`). */
export const jsonCodec: MessageCodec = {
  name: 'json',
  contentType: 'application/json',
  encode(envelope) {
    checkEncodable('json', envelope);
    let text: string;
    try {
      text = JSON.stringify(envelope);
    } catch (cause) {
      throw encodeFailure('json', envelope, cause);
    }
    return Buffer.from(text, 'utf8');
  },
  decode(bytes, headers) {
    checkContentType(jsonCodec, headers);
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (cause) {
      throw invalid('json', `the body is not valid JSON (${reasonOf(cause)})`, cause);
    }
    return toMessageEnvelope(value, 'json');
  },
};

/** The part of msgpackr's `Packr` the codec uses (structural, so no type import of the driver). */
interface PackrLike {
  pack(value: unknown): Buffer;
  unpack(bytes: Buffer): unknown;
}

interface MsgpackrModule {
  Packr: new (options: { useRecords: boolean; moreTypes: boolean; mapsAsObjects: boolean }) => PackrLike;
}

function loadMsgpackr(): MsgpackrModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded lazily
    return require('msgpackr') as MsgpackrModule;
  } catch (cause) {
    if ((cause as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND') {
      throw new MissingDependencyError('msgpackr', 'The MessagePack codec (msgpackCodec)', { cause });
    }
    throw cause;
  }
}

/**
 * The MessagePack codec (`application/msgpack`), through `msgpackr` — an optional peer dependency
 * (`npm i msgpackr`), loaded when this function is first called; throws `MissingDependencyError`
 * when it is not installed. Plain MessagePack (no msgpackr records), so other languages can read it.
 * Unlike JSON, it keeps `Date` values as dates.
 */
export function msgpackCodec(): MessageCodec {
  const packr = new (loadMsgpackr().Packr)({ useRecords: false, moreTypes: false, mapsAsObjects: true });
  const codec: MessageCodec = {
    name: 'msgpack',
    contentType: 'application/msgpack',
    encode(envelope) {
      checkEncodable('msgpack', envelope);
      try {
        return packr.pack(envelope);
      } catch (cause) {
        throw encodeFailure('msgpack', envelope, cause);
      }
    },
    decode(bytes, headers) {
      checkContentType(codec, headers);
      let value: unknown;
      try {
        value = packr.unpack(bytes);
      } catch (cause) {
        throw invalid('msgpack', `the body is not valid MessagePack (${reasonOf(cause)})`, cause);
      }
      return toMessageEnvelope(value, 'msgpack');
    },
  };
  return codec;
}
