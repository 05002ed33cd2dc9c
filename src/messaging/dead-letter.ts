import type { MessageEnvelope } from '../core/envelope';
import { isPotterError, SerializationError } from '../core/errors';
import { newId } from '../core/ids';
import { toMessageEnvelope } from './codecs';
import type { BrokerMessage, DeadLetter } from './message-bus';

/** The envelope type of the messages of a dead-letter topic (their payload is a {@link DeadLetter}). */
export const DEAD_LETTER_TYPE = 'potter.DeadLetter';

/** The dead-letter topic of `topic`: `<topic>.dlq`. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** The stable code and message of a failure, as a dead letter records it. */
export function deadLetterError(error: unknown): DeadLetter['error'] {
  if (isPotterError(error)) return { message: error.message, code: error.code };
  if (typeof error === 'object' && error !== null) {
    const { message, code, name } = error as { message?: unknown; code?: unknown; name?: unknown };
    const text = typeof message === 'string' ? message : String(error);
    if (typeof code === 'string' && code !== '') return { message: text, code };
    return { message: text, code: typeof name === 'string' && name !== '' ? name : 'Error' };
  }
  return { message: String(error), code: 'Error' };
}

/** What an adapter knows about a message that failed, to build its {@link DeadLetter}. */
export interface DeadLetterInit {
  /** The original topic. */
  topic: string;
  /** The consumer group that gave up on it. */
  group: string;
  /** The decoded envelope, when the message could be decoded. */
  envelope?: MessageEnvelope;
  /** The raw body, kept (as base64) when the message could not be decoded. */
  raw?: Buffer;
  /** The original broker headers. */
  headers: Record<string, string>;
  key: string | undefined;
  /** The last error (a handler's, or the codec's `SerializationError`). */
  error: unknown;
  /** Attempts made (1 for a message that could not be decoded). */
  attempts: number;
  /** @default now */
  failedAt?: Date;
}

/**
 * Builds the {@link DeadLetter} of a failed message: the envelope when there is one, else the raw
 * bytes as base64, with the error's message and code.
 */
export function createDeadLetter(init: DeadLetterInit): DeadLetter {
  return {
    topic: init.topic,
    group: init.group,
    envelope: init.envelope,
    raw: init.envelope === undefined && init.raw !== undefined ? init.raw.toString('base64') : undefined,
    headers: { ...init.headers },
    key: init.key,
    error: deadLetterError(init.error),
    attempts: init.attempts,
    failedAt: (init.failedAt ?? new Date()).toISOString(),
  };
}

/**
 * The envelope that carries a dead letter to `<topic>.dlq` (type {@link DEAD_LETTER_TYPE}, the
 * dead letter as payload). It keeps the original correlation id, trace context and tenant, and its
 * causation id is the original message's id.
 */
export function deadLetterEnvelope(deadLetter: DeadLetter): MessageEnvelope<DeadLetter> {
  const original = deadLetter.envelope;
  const metadata: MessageEnvelope['metadata'] = {
    correlationId: original?.metadata.correlationId ?? newId(),
    timestamp: deadLetter.failedAt,
    schemaVersion: 1,
    headers: {},
  };
  if (original) metadata.causationId = original.id;
  if (original?.metadata.traceparent !== undefined) metadata.traceparent = original.metadata.traceparent;
  if (original?.metadata.tenantId !== undefined) metadata.tenantId = original.metadata.tenantId;
  return { id: newId(), type: DEAD_LETTER_TYPE, kind: 'event', payload: { ...deadLetter }, metadata };
}

/** Extra broker headers for a dead letter's message (for brokers' tooling; the payload has it all). */
export function deadLetterHeaders(deadLetter: DeadLetter): Record<string, string> {
  return {
    'potter-dlq-topic': deadLetter.topic,
    'potter-dlq-group': deadLetter.group,
    'potter-dlq-error-code': deadLetter.error.code,
  };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((item) => typeof item === 'string')
  );
}

function notADeadLetter(reason: string): SerializationError {
  return new SerializationError(`Not a dead letter: ${reason}.`, { details: { reason } });
}

/**
 * Reads the {@link DeadLetter} out of a message of a dead-letter topic (or its envelope). Throws
 * `SerializationError` when the message is not one.
 */
export function readDeadLetter(source: BrokerMessage | MessageEnvelope): DeadLetter {
  const envelope: MessageEnvelope = 'envelope' in source && 'topic' in source ? source.envelope : source;
  if (envelope.type !== DEAD_LETTER_TYPE) throw notADeadLetter(`its type is "${envelope.type}"`);
  const p = envelope.payload as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null) throw notADeadLetter('its payload is not an object');
  const { topic, group, raw, headers, key, error, attempts, failedAt } = p;
  if (typeof topic !== 'string' || typeof group !== 'string') throw notADeadLetter('topic or group missing');
  if (!isStringRecord(headers)) throw notADeadLetter('headers are not strings');
  if (typeof attempts !== 'number' || typeof failedAt !== 'string') {
    throw notADeadLetter('attempts or failedAt missing');
  }
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown };
  if (typeof message !== 'string' || typeof code !== 'string') throw notADeadLetter('error missing');
  if (raw !== undefined && raw !== null && typeof raw !== 'string')
    throw notADeadLetter('raw is not a string');
  if (key !== undefined && key !== null && typeof key !== 'string')
    throw notADeadLetter('key is not a string');
  return {
    topic,
    group,
    envelope: p.envelope === undefined || p.envelope === null ? undefined : toMessageEnvelope(p.envelope),
    raw: typeof raw === 'string' ? raw : undefined,
    headers: { ...headers },
    key: typeof key === 'string' ? key : undefined,
    error: { message, code },
    attempts,
    failedAt,
  };
}
