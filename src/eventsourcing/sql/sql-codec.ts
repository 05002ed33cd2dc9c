import type { MessageMetadata } from '../../core/envelope';
import { ConfigurationError, SerializationError } from '../../core/errors';
import type { RecordedEvent } from '../event-store';
import type { PreparedEvent } from '../store-support';
import { sqlStateOf, type SqlClient } from './sql-client';
import { encodePosition } from './sql-position';
import type { EventRow, Statement } from './sql-statements';

// Values to and from the SQL event store's statements, and checks of caller input.

/** The largest version (PostgreSQL `integer`). @internal */
export const MAX_VERSION = 2_147_483_647;

/** Runs a prepared statement. @internal */
export function run<R extends object = Record<string, unknown>>(
  client: SqlClient,
  statement: Statement,
  params: readonly unknown[],
): Promise<{ rows: R[] }> {
  return client.query<R>(statement.text, params, { name: statement.name });
}

/** Throws `ConfigurationError` unless `streamId` is a string. @internal */
export function assertStreamId(streamId: unknown): asserts streamId is string {
  if (typeof streamId !== 'string') {
    throw new ConfigurationError('A stream id must be a string.', { streamId });
  }
}

/** The events of an append as the JSON array the append statement unpacks. @internal */
export function encodeEvents(prepared: readonly PreparedEvent[]): string {
  try {
    return JSON.stringify(prepared);
  } catch (cause) {
    throw new SerializationError(`Events of types ${prepared.map((e) => e.type).join(', ')} are not JSON.`, {
      cause,
      details: { types: prepared.map((e) => e.type) },
    });
  }
}

/** One event as the scalar parameters of a single-event append: id, type, schema version, payload, metadata. @internal */
export function encodeEvent(event: PreparedEvent): [string, string, number, string, string] {
  try {
    return [
      event.id,
      event.type,
      event.schemaVersion,
      JSON.stringify(event.payload),
      JSON.stringify(event.metadata),
    ];
  } catch (cause) {
    throw new SerializationError(`Events of types ${event.type} are not JSON.`, {
      cause,
      details: { types: [event.type] },
    });
  }
}

/** Turns a database error of an append into the error the caller should see. @internal */
export function translateWriteError(error: unknown): unknown {
  // Class 22 (data exception): a value PostgreSQL's jsonb refuses, such as a "\u0000" in a string.
  const state = sqlStateOf(error);
  if (state?.startsWith('22')) {
    return new SerializationError('PostgreSQL refused an event value.', {
      cause: error,
      details: { sqlState: state },
    });
  }
  return error;
}

/** A `fromVersion`/`toVersion` option as an `integer` parameter. @internal */
export function versionBound(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (Number.isNaN(value))
    throw new ConfigurationError('A stream version bound must be a number.', { value });
  return Math.max(-MAX_VERSION, Math.min(MAX_VERSION, Math.trunc(value)));
}

/** A `limit` option, checked. @internal */
export function countOption(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigurationError(`"${name}" must be an integer >= 0.`, { [name]: value });
  }
  return Math.min(value, MAX_VERSION);
}

/** An `events` row as a `RecordedEvent`. @internal */
export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    position: encodePosition(row.transaction_id, row.seq),
    type: row.event_type,
    schemaVersion: row.schema_version,
    payload: row.payload,
    metadata: row.metadata as unknown as MessageMetadata,
    // Rows from a worker thread or another realm carry foreign Date objects: make them local.
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
  };
}
