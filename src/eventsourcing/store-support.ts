import type { MessageMetadata } from '../core/envelope';
import { ConcurrencyError, ConfigurationError } from '../core/errors';
import { newId } from '../core/ids';
import { currentMessageContext } from '../core/message-context';
import type { ExpectedVersion, NewEvent, RecordedEvent } from './event-store';

/** An event ready to be written: id, schema version and full metadata filled in. @internal */
export interface PreparedEvent {
  id: string;
  type: string;
  schemaVersion: number;
  payload: Record<string, unknown>;
  metadata: MessageMetadata;
}

/**
 * Fills ids and metadata: correlation and causation ids come from the message being handled (if
 * any) unless the event sets them. Shared by every adapter so they store the same thing. @internal
 */
export function prepareEvents(events: readonly NewEvent[], now: Date = new Date()): PreparedEvent[] {
  const context = currentMessageContext();
  return events.map((event) => {
    if (!event || typeof event.type !== 'string' || event.type.length === 0) {
      throw new ConfigurationError('Every appended event needs a non-empty string "type".', { event });
    }
    if (event.payload === null || typeof event.payload !== 'object' || Array.isArray(event.payload)) {
      throw new ConfigurationError(`The payload of ${event.type} must be a JSON object.`, {
        type: event.type,
      });
    }
    const given = event.metadata ?? {};
    const schemaVersion = event.schemaVersion ?? given.schemaVersion ?? 1;
    const metadata: MessageMetadata = {
      correlationId: given.correlationId ?? context?.correlationId ?? event.id ?? '',
      timestamp: given.timestamp ?? now.toISOString(),
      schemaVersion,
      headers: { ...given.headers },
    };
    const causationId = given.causationId ?? context?.id;
    if (causationId !== undefined) metadata.causationId = causationId;
    const traceparent = given.traceparent ?? context?.metadata.traceparent;
    if (traceparent !== undefined) metadata.traceparent = traceparent;
    const tenantId = given.tenantId ?? context?.metadata.tenantId;
    if (tenantId !== undefined) metadata.tenantId = tenantId;
    const id = event.id ?? newId();
    if (metadata.correlationId === '') metadata.correlationId = id;
    return { id, type: event.type, schemaVersion, payload: event.payload, metadata };
  });
}

/** Throws `ConcurrencyError` when `expected` does not hold for a stream at `actual`. @internal */
export function checkExpectedVersion(
  streamId: string,
  expected: ExpectedVersion,
  actual: number,
  exists: boolean,
): void {
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && !exists) ||
    (expected === 'exists' && exists) ||
    (typeof expected === 'number' && expected === actual);
  if (!ok) throw new ConcurrencyError(streamId, expected, exists ? actual : 'no_stream');
}

/** Validates an expected version given by a caller. @internal */
export function validateExpectedVersion(expected: ExpectedVersion): void {
  if (typeof expected === 'number' && (!Number.isInteger(expected) || expected < 0)) {
    throw new ConfigurationError('A numeric expectedVersion must be an integer >= 0.', {
      expectedVersion: expected,
    });
  }
  if (typeof expected === 'string' && !['any', 'no_stream', 'exists'].includes(expected)) {
    throw new ConfigurationError(`Unknown expectedVersion "${expected}".`, { expectedVersion: expected });
  }
}

/**
 * Decides whether an append whose first event id is already stored is a retry of a completed
 * append: every id must be stored, in order, at consecutive versions right after `expected`
 * (when numeric). Returns the stream version after that earlier append, or throws. @internal
 */
export function idempotentRetryVersion(
  streamId: string,
  expected: ExpectedVersion,
  prepared: readonly PreparedEvent[],
  stored: readonly (Pick<RecordedEvent, 'id' | 'streamVersion' | 'streamId'> | undefined)[],
): number {
  const first = stored[0];
  const consistent =
    first !== undefined &&
    stored.every(
      (s, i) =>
        s !== undefined &&
        s.streamId === streamId &&
        s.id === prepared[i]!.id &&
        s.streamVersion === first.streamVersion + i,
    ) &&
    (typeof expected !== 'number' || first.streamVersion === expected + 1);
  if (!consistent) {
    throw new ConcurrencyError(streamId, expected, 'conflicting event ids', {
      details: { reason: 'some event ids of this append are already stored, but not as the same append' },
    });
  }
  return first.streamVersion + prepared.length - 1;
}

/** Filters used by readAll, applied to a recorded event. @internal */
export function matchesFilters(
  event: RecordedEvent,
  filters: {
    eventTypes?: readonly string[] | undefined;
    streamIdPrefix?: string | undefined;
    from?: Date | undefined;
    to?: Date | undefined;
  },
): boolean {
  if (filters.eventTypes && !filters.eventTypes.includes(event.type)) return false;
  if (filters.streamIdPrefix !== undefined && !event.streamId.startsWith(filters.streamIdPrefix))
    return false;
  if (filters.from && event.recordedAt < filters.from) return false;
  if (filters.to && event.recordedAt >= filters.to) return false;
  return true;
}
