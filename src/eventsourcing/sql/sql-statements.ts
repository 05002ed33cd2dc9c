import { quoteSchema } from './schema';

/** A statement's text and the name it is prepared under. @internal */
export interface Statement {
  name: string;
  text: string;
}

/** Every statement the SQL event store runs, for one schema. @internal */
export interface EventStoreStatements {
  /** Append when the stream may be created (`any`, `no_stream`, `0`). */
  appendMayCreate: Statement;
  /** Append to a stream that must exist (`exists`, a version > 0). */
  appendExisting: Statement;
  /** The same two, also signalling the channel when their transaction commits (for caller transactions). */
  appendMayCreateNotifying: Statement;
  appendExistingNotifying: Statement;
  /**
   * The same four for exactly one event, with scalar parameters (`$4` id, `$5` type, `$6` schema
   * version, `$7` payload, `$8` metadata, `$9` recorded at): no JSON array to unpack.
   */
  appendOneMayCreate: Statement;
  appendOneExisting: Statement;
  appendOneMayCreateNotifying: Statement;
  appendOneExistingNotifying: Statement;
  /** Stream state and already-stored event ids, to explain a failed append. */
  appendConflict: Statement;
  readStreamForward: Statement;
  readStreamBackward: Statement;
  readAll: Statement;
  lastPosition: Statement;
  countEvents: Statement;
  streamInfo: Statement;
  truncate: Statement;
  lockStream: Statement;
  markDeleted: Statement;
  /** The `NOTIFY` channel appends signal on. */
  channel: string;
}

/** Columns of an event row, as `SqlEventStore` decodes them. @internal */
export interface EventRow {
  event_id: string;
  stream_id: string;
  stream_version: number;
  transaction_id: string;
  seq: string;
  event_type: string;
  schema_version: number;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  recorded_at: Date | string;
}

const EVENT_COLUMNS = (alias: string): string =>
  [
    `${alias}.event_id`,
    `${alias}.stream_id`,
    `${alias}.stream_version`,
    `${alias}.transaction_id::text AS transaction_id`,
    `${alias}.seq::text AS seq`,
    `${alias}.event_type`,
    `${alias}.schema_version`,
    `${alias}.payload`,
    `${alias}.metadata`,
    `${alias}.recorded_at`,
  ].join(', ');

/**
 * A 32-bit key naming the schema's stream locks: `pg_advisory_xact_lock(key, hashtext(stream_id))`.
 * FNV-1a, so every process computes the same key. @internal
 */
export function streamLockKey(schema: string): number {
  let hash = 0x811c9dc5;
  for (const char of `potter.streams:${schema}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

/** FNV-1a, 64 bits, in base 36 (at most 13 characters). */
/** A 64-bit hash of `text` as 16 hex digits (prepared-statement names per schema). @internal */
export function hash64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const char of text) {
    hash ^= BigInt(char.codePointAt(0)!);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(36);
}

/**
 * Builds the statements of one schema. Only the (validated) schema name and numbers computed here
 * are part of the text; every value comes in as a parameter.
 *
 * Appends are one statement (one round trip, its own transaction): lock the stream, bump its
 * version if the expected version holds, insert the events at the versions that follow. Parameters: `$1` stream id, `$2` number of events, `$3` expected version (`NULL`:
 * any / exists), `$4` the events as a JSON array, `$5` recorded-at time.
 * @internal
 */
export function eventStoreStatements(schemaName: string): EventStoreStatements {
  const s = quoteSchema(schemaName);
  const channel = `${schemaName}_events`;
  const key = streamLockKey(schemaName);
  // Prepared-statement names are per connection and cut at 63 characters by PostgreSQL: name them
  // after a 64-bit hash of the schema, so stores of different schemas on one pool never collide.
  const prefix = `potter_${hash64(schemaName)}`;
  const named = (name: string, text: string): Statement => ({ name: `${prefix}_${name}`, text });

  // The advisory lock comes first, before the statement writes anything, i.e. before the
  // transaction is given its id: a writer that waited for the stream gets a higher transaction id
  // than the one it waited for, so the log's (transaction_id, seq) order keeps each stream's
  // versions in order.
  const lock = `lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(${key}, hashtext($1::text)))`;
  const insertEvents = (one: boolean): string =>
    one
      ? `written AS (
      INSERT INTO ${s}.events
        (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata, recorded_at)
      SELECT $4::text, $1::text, stream.version, $5::text, $6::int, $7::jsonb, $8::jsonb, $9::timestamptz
      FROM stream
      RETURNING seq
    )`
      : `written AS (
      INSERT INTO ${s}.events
        (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata, recorded_at)
      SELECT e.doc->>'id', $1::text, stream.version - $2::int + e.n::int, e.doc->>'type',
        (e.doc->>'schemaVersion')::int, e.doc->'payload', e.doc->'metadata', $5::timestamptz
      FROM stream, jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(doc, n)
      ORDER BY e.n
      RETURNING seq
    )`;
  const result = (
    notify: boolean,
    one: boolean,
  ): string => `SELECT stream.version, pg_current_xact_id()::text AS transaction_id,
      (SELECT ${one ? 'seq' : 'max(seq)'} FROM written)::text AS last_seq${notify ? `, pg_notify('${channel}', '') IS NULL AS notified` : ''}
    FROM stream`;
  const mayCreate = (notify: boolean, one = false): string => `WITH ${lock},
      stream AS (
        INSERT INTO ${s}.streams AS st (stream_id, version)
        SELECT $1::text, $2::int FROM lock
        ON CONFLICT (stream_id) DO UPDATE SET version = st.version + $2::int
          WHERE NOT st.deleted AND ($3::int IS NULL OR st.version = $3::int)
        RETURNING st.version
      ),
      ${insertEvents(one)}
      ${result(notify, one)}`;
  const existing = (notify: boolean, one = false): string => `WITH ${lock},
      stream AS (
        UPDATE ${s}.streams AS st SET version = st.version + $2::int
        FROM lock
        WHERE st.stream_id = $1::text AND NOT st.deleted
          AND CASE WHEN $3::int IS NULL THEN st.version > 0 ELSE st.version = $3::int END
        RETURNING st.version
      ),
      ${insertEvents(one)}
      ${result(notify, one)}`;

  return {
    channel,
    appendMayCreate: named('append_may_create', mayCreate(false)),
    appendExisting: named('append_existing', existing(false)),
    appendMayCreateNotifying: named('append_may_create_notifying', mayCreate(true)),
    appendExistingNotifying: named('append_existing_notifying', existing(true)),
    appendOneMayCreate: named('append_one_may_create', mayCreate(false, true)),
    appendOneExisting: named('append_one_existing', existing(false, true)),
    appendOneMayCreateNotifying: named('append_one_may_create_notifying', mayCreate(true, true)),
    appendOneExistingNotifying: named('append_one_existing_notifying', existing(true, true)),
    appendConflict: named(
      'append_conflict',
      `SELECT 'stream' AS kind, NULL::text AS event_id, stream_id, version AS stream_version, deleted
        FROM ${s}.streams WHERE stream_id = $1::text
      UNION ALL
      SELECT 'event', event_id, stream_id, stream_version, NULL
        FROM ${s}.events WHERE event_id = ANY($2::text[])`,
    ),
    readStreamForward: named('read_stream_forward', readStream(s, 'ASC')),
    // Committed rows after a position matching the filters, readable or not yet.
    countEvents: named(
      'count_events',
      `SELECT count(*)::int AS count
      FROM ${s}.events e
      WHERE (e.transaction_id, e.seq) > ($1::xid8, $2::bigint)
        AND ($3::text[] IS NULL OR e.event_type = ANY($3::text[]))
        AND ($4::text IS NULL OR starts_with(e.stream_id, $4::text))
        AND ($5::timestamptz IS NULL OR e.recorded_at >= $5::timestamptz)
        AND ($6::timestamptz IS NULL OR e.recorded_at < $6::timestamptz)`,
    ),
    // The last committed row matching the filters, readable or not yet (no xmin bound).
    lastPosition: named(
      'last_position',
      `SELECT e.transaction_id::text AS transaction_id, e.seq::text AS seq
      FROM ${s}.events e
      WHERE ($1::text[] IS NULL OR e.event_type = ANY($1::text[]))
        AND ($2::text IS NULL OR starts_with(e.stream_id, $2::text))
        AND ($3::timestamptz IS NULL OR e.recorded_at >= $3::timestamptz)
        AND ($4::timestamptz IS NULL OR e.recorded_at < $4::timestamptz)
      ORDER BY e.transaction_id DESC, e.seq DESC
      LIMIT 1`,
    ),
    readStreamBackward: named('read_stream_backward', readStream(s, 'DESC')),
    // One statement, one snapshot: `xmin` is the oldest transaction still running; every
    // transaction below it has finished, so the rows below it are final and can be read in
    // (transaction_id, seq) order without ever skipping one that commits later. `tail` is the last
    // readable row (to move past filtered-out rows). $1/$2 = after, $3 = limit, $4..$7 = filters.
    readAll: named(
      'read_all',
      `SELECT t.tail_transaction_id::text AS tail_transaction_id, t.tail_seq::text AS tail_seq, p.*
      FROM (
        SELECT x.xmin, last.transaction_id AS tail_transaction_id, last.seq AS tail_seq
        FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) x
        LEFT JOIN LATERAL (
          SELECT l.transaction_id, l.seq FROM ${s}.events l
          WHERE l.transaction_id < x.xmin
          ORDER BY l.transaction_id DESC, l.seq DESC
          LIMIT 1
        ) last ON true
      ) t
      LEFT JOIN LATERAL (
        SELECT ${EVENT_COLUMNS('e')}
        FROM ${s}.events e
        WHERE e.transaction_id < t.xmin
          AND (e.transaction_id, e.seq) > ($1::xid8, $2::bigint)
          AND ($4::text[] IS NULL OR e.event_type = ANY($4::text[]))
          AND ($5::text IS NULL OR starts_with(e.stream_id, $5::text))
          AND ($6::timestamptz IS NULL OR e.recorded_at >= $6::timestamptz)
          AND ($7::timestamptz IS NULL OR e.recorded_at < $7::timestamptz)
        ORDER BY e.transaction_id, e.seq
        LIMIT $3::int
      ) p ON true`,
    ),
    streamInfo: named(
      'stream_info',
      `SELECT version, truncated_before, deleted FROM ${s}.streams WHERE stream_id = $1::text`,
    ),
    truncate: named(
      'truncate',
      `UPDATE ${s}.streams
      SET truncated_before = CASE WHEN deleted THEN truncated_before ELSE greatest(truncated_before, $2::int) END
      WHERE stream_id = $1::text
      RETURNING deleted`,
    ),
    lockStream: named(
      'lock_stream',
      `SELECT st.version, st.deleted
      FROM (SELECT pg_advisory_xact_lock(${key}, hashtext($1::text))) lock
      LEFT JOIN ${s}.streams st ON st.stream_id = $1::text`,
    ),
    markDeleted: named(
      'mark_deleted',
      `INSERT INTO ${s}.streams (stream_id, version, deleted) VALUES ($1::text, 0, true)
      ON CONFLICT (stream_id) DO UPDATE SET deleted = true`,
    ),
  };
}

function readStream(s: string, direction: 'ASC' | 'DESC'): string {
  // $1 stream id, $2 lowest version, $3 highest version, $4 limit (NULL: all).
  return `SELECT st.deleted, ${EVENT_COLUMNS('e')}
    FROM ${s}.streams st
    LEFT JOIN LATERAL (
      SELECT * FROM ${s}.events ev
      WHERE ev.stream_id = st.stream_id AND NOT st.deleted
        AND ev.stream_version >= greatest(st.truncated_before, $2::int, 1)
        AND ev.stream_version <= $3::int
      ORDER BY ev.stream_version ${direction}
      LIMIT $4::int
    ) e ON true
    WHERE st.stream_id = $1::text`;
}
