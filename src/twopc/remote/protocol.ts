import type { MessageEnvelope } from '../../core/envelope';
import { isPotterError } from '../../core/errors';
import { newId } from '../../core/ids';
import type { TwoPhaseQueryOutcome } from '../coordinator';
import { TwoPhaseBadRequestError, type TwoPhaseRemoteFailure } from './errors';

/**
 * The wire format of two-phase commit over a `MessageBus`: request and reply envelopes, their type
 * names and the default topics.
 */

/** Envelope types of the two-phase requests and replies. */
export const TWOPC_MESSAGE_TYPES = {
  prepare: 'potter.twopc.Prepare',
  commit: 'potter.twopc.Commit',
  rollback: 'potter.twopc.Rollback',
  outcome: 'potter.twopc.OutcomeQuery',
  reply: 'potter.twopc.Reply',
} as const;

/** The topic a participant is served on by default: `potter.twopc.<name>`. */
export function twoPhaseParticipantTopic(participant: string): string {
  return `potter.twopc.${participant}`;
}

/** The topic a coordinator answers outcome questions on by default. */
export const TWOPC_OUTCOME_TOPIC = 'potter.twopc.outcomes';

/** The topic clients receive their replies on by default (each client in a group of its own). */
export const TWOPC_REPLY_TOPIC = 'potter.twopc.replies';

/** A participant operation. */
export type TwoPhaseOperation = 'prepare' | 'commit' | 'rollback';

/** The payload of a request (its envelope id is the request id the reply names). */
export interface TwoPhaseRequestBody {
  txId: string;
  /** Where to publish the reply. */
  replyTopic: string;
  /** The participant asked (participant requests only). */
  participant?: string;
  /** `prepare`'s payload. */
  payload?: unknown;
  /** How long the sender waits for the answer of a `prepare`, from the envelope's timestamp. */
  timeoutMs?: number;
}

/** The payload of a reply. */
export type TwoPhaseReplyBody =
  | { requestId: string; ok: true; outcome?: TwoPhaseQueryOutcome }
  | { requestId: string; ok: false; error: TwoPhaseRemoteFailure };

/** A request read off the bus. */
export interface ParsedRequest {
  operation: TwoPhaseOperation | 'outcome';
  requestId: string;
  body: TwoPhaseRequestBody;
}

const OPERATIONS = new Map<string, TwoPhaseOperation | 'outcome'>([
  [TWOPC_MESSAGE_TYPES.prepare, 'prepare'],
  [TWOPC_MESSAGE_TYPES.commit, 'commit'],
  [TWOPC_MESSAGE_TYPES.rollback, 'rollback'],
  [TWOPC_MESSAGE_TYPES.outcome, 'outcome'],
]);

/** An envelope of kind `command` (requests) or `event` (replies) carrying `payload`. */
export function twoPhaseEnvelope<P>(
  type: string,
  kind: 'command' | 'event',
  payload: P,
  causation?: MessageEnvelope,
): MessageEnvelope<P> {
  const metadata: MessageEnvelope['metadata'] = {
    correlationId: causation?.metadata.correlationId ?? newId(),
    timestamp: new Date().toISOString(),
    schemaVersion: 1,
    headers: {},
  };
  if (causation !== undefined) {
    metadata.causationId = causation.id;
    if (causation.metadata.traceparent !== undefined) metadata.traceparent = causation.metadata.traceparent;
    if (causation.metadata.tenantId !== undefined) metadata.tenantId = causation.metadata.tenantId;
  }
  return { id: newId(), type, kind, payload, metadata };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The reply topic of a request, if it has a usable one (to answer even a malformed request). */
export function replyTopicOf(envelope: MessageEnvelope): string | undefined {
  const body = envelope.payload;
  return isRecord(body) && typeof body.replyTopic === 'string' && body.replyTopic !== ''
    ? body.replyTopic
    : undefined;
}

/** Reads a request; throws `TwoPhaseBadRequestError` for anything else. */
export function parseRequest(envelope: MessageEnvelope, accept: readonly string[]): ParsedRequest {
  const operation = OPERATIONS.get(envelope.type);
  if (operation === undefined || !accept.includes(envelope.type)) {
    throw new TwoPhaseBadRequestError(`unexpected message type "${envelope.type}"`);
  }
  const body = envelope.payload;
  if (!isRecord(body)) throw new TwoPhaseBadRequestError('the payload is not an object');
  const { txId, replyTopic, participant, timeoutMs } = body;
  if (typeof txId !== 'string' || txId === '') throw new TwoPhaseBadRequestError('txId is missing');
  if (typeof replyTopic !== 'string' || replyTopic === '') {
    throw new TwoPhaseBadRequestError('replyTopic is missing');
  }
  if (operation !== 'outcome' && (typeof participant !== 'string' || participant === '')) {
    throw new TwoPhaseBadRequestError('participant is missing');
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) {
    throw new TwoPhaseBadRequestError('timeoutMs is not a positive number');
  }
  return { operation, requestId: envelope.id, body: body as unknown as TwoPhaseRequestBody };
}

/** Reads a reply; `undefined` for anything else (foreign messages on a reply topic are ignored). */
export function parseReply(envelope: MessageEnvelope): TwoPhaseReplyBody | undefined {
  if (envelope.type !== TWOPC_MESSAGE_TYPES.reply) return undefined;
  const body = envelope.payload;
  if (!isRecord(body) || typeof body.requestId !== 'string' || typeof body.ok !== 'boolean') return undefined;
  if (body.ok) {
    const outcome = body.outcome;
    if (outcome !== undefined && outcome !== 'commit' && outcome !== 'abort' && outcome !== 'pending') {
      return undefined;
    }
    return outcome === undefined
      ? { requestId: body.requestId, ok: true }
      : { requestId: body.requestId, ok: true, outcome };
  }
  const error = isRecord(body.error) ? body.error : {};
  return {
    requestId: body.requestId,
    ok: false,
    error: {
      name: typeof error.name === 'string' ? error.name : 'Error',
      message: typeof error.message === 'string' ? error.message : 'unknown remote failure',
      ...(typeof error.code === 'string' ? { code: error.code } : {}),
    },
  };
}

/** The name, message and (Potter) code of an error, for a failure reply. */
export function failureOf(error: unknown): TwoPhaseRemoteFailure {
  if (error instanceof Error) {
    return isPotterError(error)
      ? { name: error.name, message: error.message, code: error.code }
      : { name: error.name, message: error.message };
  }
  return { name: 'Error', message: String(error) };
}
