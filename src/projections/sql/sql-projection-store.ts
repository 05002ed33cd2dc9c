import { newId } from '../../core/ids';
import { ConfigurationError, ProjectionFencedError } from '../../core/errors';
import type { RecordedEvent } from '../../eventsourcing/event-store';
import { DEFAULT_EVENT_STORE_SCHEMA, migrateEventStore, quoteSchema } from '../../eventsourcing/sql/schema';
import type { SqlClient } from '../../eventsourcing/sql/sql-client';
import type {
  ParkedEvent,
  ProgressUpdate,
  ProjectionDurableStatus,
  ProjectionFault,
  ProjectionInit,
  ProjectionLease,
  ProjectionRecord,
  ProjectionRequest,
  ProjectionStore,
  ShadowBuild,
} from '../projection-store';

/** Options of {@link SqlProjectionStore}. */
export interface SqlProjectionStoreOptions {
  /** Schema holding the tables (created by `migrateEventStore`, v3). @default 'potter' */
  schema?: string;
  /** Close `client` in `close()`. Set it when the store should own the client. @default false */
  closeClient?: boolean;
}

/** Options of {@link SqlProjectionStore.create}. */
export interface CreateSqlProjectionStoreOptions {
  /** @default 'potter' */
  schema?: string;
  /** Create or upgrade the tables first (see `migrateEventStore`). @default true */
  migrate?: boolean;
}

/** A bigint column: `pg` returns a string, PGlite a number or a bigint. */
type Int8 = string | number | bigint;

interface ProjectionRow {
  name: string;
  position: string;
  high_water: string;
  status: ProjectionDurableStatus;
  error: ProjectionFault | string | null;
  generation: number;
  shadow: ShadowBuild | string | null;
  owner: string | null;
  token: Int8;
  lease_expires_at: Date | string | null;
  request: ProjectionRequest | string | null;
  updated_at: Date | string;
  parked: Int8;
}

interface ParkedRow {
  projection: string;
  seq: Int8;
  stream_id: string;
  event: StoredEvent | string;
  reason: string;
  generation: number;
  parked_at: Date | string;
}

/** A `RecordedEvent` as JSON (`recordedAt` an ISO string). */
type StoredEvent = Omit<RecordedEvent, 'recordedAt'> & { recordedAt: string };

/**
 * Projection checkpoints, leases, parked events and operator requests in PostgreSQL (or PGlite):
 * `<schema>.projections` and `<schema>.projection_parked`, created by the event store's migrations.
 *
 * Leases run on the database clock (`now()`), so instances with skewed clocks agree on expiry.
 * Taking a lease is one `INSERT … ON CONFLICT DO UPDATE … WHERE` statement, so of several
 * instances racing for a free lease exactly one wins; each change of hands bumps the fencing
 * `token`. Every progress write is an `UPDATE … WHERE token = … AND owner = …`: a write of a lost
 * lease matches no row and raises `ProjectionFencedError`.
 */
export class SqlProjectionStore implements ProjectionStore {
  /** The database the store lives in (projections with read models there commit in one transaction). */
  readonly sql: SqlClient;
  /** The schema of the store's tables. */
  readonly schema: string;
  readonly #projections: string;
  readonly #parked: string;
  readonly #closeClient: boolean;

  /**
   * A store on `client`, migrating the schema first unless `migrate: false`. `close()` leaves
   * the client open.
   */
  static async create(
    client: SqlClient,
    options: CreateSqlProjectionStoreOptions = {},
  ): Promise<SqlProjectionStore> {
    const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    if (options.migrate ?? true) await migrateEventStore(client, { schema });
    return new SqlProjectionStore(client, { schema });
  }

  /** The store beside an SQL event store: same client, same schema (its migrations created the tables). */
  static for(eventStore: { client: SqlClient; schema: string }): SqlProjectionStore {
    return new SqlProjectionStore(eventStore.client, { schema: eventStore.schema });
  }

  /** A store on `client` whose tables already exist (see {@link SqlProjectionStore.create}). */
  constructor(client: SqlClient, options: SqlProjectionStoreOptions = {}) {
    this.sql = client;
    this.schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    const schema = quoteSchema(this.schema);
    this.#projections = `${schema}.projections`;
    this.#parked = `${schema}.projection_parked`;
    this.#closeClient = options.closeClient ?? false;
  }

  /** The projection's record, or `undefined` if it never ran. */
  async get(name: string): Promise<ProjectionRecord | undefined> {
    const { rows } = await this.sql.query<ProjectionRow>(
      `SELECT ${this.#recordColumns('p')} FROM ${this.#projections} p WHERE p.name = $1`,
      [name],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /** Every projection's record, by name. */
  async list(): Promise<ProjectionRecord[]> {
    const { rows } = await this.sql.query<ProjectionRow>(
      `SELECT ${this.#recordColumns('p')} FROM ${this.#projections} p ORDER BY p.name COLLATE "C"`,
    );
    return rows.map(toRecord);
  }

  /** Takes the lease if it is free, expired or already `owner`'s (one statement; the token increases). */
  async acquire(
    name: string,
    owner: string,
    ttlMs: number,
    init: ProjectionInit,
  ): Promise<{ lease: ProjectionLease; record: ProjectionRecord } | undefined> {
    const { rows } = await this.sql.query<ProjectionRow>(
      `INSERT INTO ${this.#projections} AS p
         (name, position, high_water, status, owner, token, lease_expires_at, updated_at)
       VALUES ($1, $4, $4, 'running', $2, 1, now() + $3::float8 * interval '1 millisecond', now())
       ON CONFLICT (name) DO UPDATE
         SET owner = EXCLUDED.owner, token = p.token + 1, lease_expires_at = EXCLUDED.lease_expires_at,
             updated_at = now()
         WHERE p.owner IS NULL OR p.lease_expires_at IS NULL OR p.lease_expires_at < now()
            OR p.owner = EXCLUDED.owner
       RETURNING ${this.#recordColumns('p')}`,
      [name, owner, ttl(ttlMs), init.position],
    );
    const row = rows[0];
    if (!row) return undefined;
    const record = toRecord(row);
    return { lease: { name, owner, token: record.token }, record };
  }

  /** Extends the lease by `ttlMs` from now (database clock); `false` when it was lost. */
  async renew(lease: ProjectionLease, ttlMs: number): Promise<boolean> {
    const { rows } = await this.sql.query(
      `UPDATE ${this.#projections}
          SET lease_expires_at = now() + $4::float8 * interval '1 millisecond'
        WHERE name = $1 AND token = $2 AND owner = $3
        RETURNING 1 AS renewed`,
      [lease.name, lease.token, lease.owner, ttl(ttlMs)],
    );
    return rows.length > 0;
  }

  /** Gives the lease up, keeping the token (the next acquire bumps it). No-op if already lost. */
  async release(lease: ProjectionLease): Promise<void> {
    await this.sql.query(
      `UPDATE ${this.#projections} SET owner = NULL, lease_expires_at = NULL
        WHERE name = $1 AND token = $2 AND owner = $3`,
      [lease.name, lease.token, lease.owner],
    );
  }

  /**
   * Records progress if `lease` is current: the fenced update of the projection's row first, then
   * the parked and unparked events. In `tx` when given; otherwise in a transaction of its own when
   * it parks or unparks events.
   */
  async commit(lease: ProjectionLease, update: ProgressUpdate, tx?: SqlClient): Promise<void> {
    const park = update.park ?? [];
    const unpark = update.unpark ?? [];
    const write = async (db: SqlClient): Promise<void> => {
      const { rows } = await db.query(
        `UPDATE ${this.#projections} SET
           position = coalesce($4, position),
           high_water = coalesce($5, high_water),
           status = coalesce($6, status),
           error = CASE WHEN $7::boolean THEN $8::jsonb ELSE error END,
           generation = coalesce($9::integer, generation),
           shadow = CASE WHEN $10::boolean THEN $11::jsonb ELSE shadow END,
           request = CASE WHEN request->>'id' = $12::text THEN NULL ELSE request END,
           updated_at = now()
         WHERE name = $1 AND token = $2 AND owner = $3
         RETURNING 1 AS committed`,
        [
          lease.name,
          lease.token,
          lease.owner,
          update.position ?? null,
          update.highWater ?? null,
          update.status ?? null,
          update.error !== undefined,
          update.error ? JSON.stringify(update.error) : null,
          update.generation ?? null,
          update.shadow !== undefined,
          update.shadow ? JSON.stringify(update.shadow) : null,
          update.clearRequest ?? null,
        ],
      );
      if (rows.length === 0) throw new ProjectionFencedError(lease.name, lease.token);
      if (park.length > 0) {
        // Rows come out of the array in order, so the sequence numbers them in parking order.
        await db.query(
          `INSERT INTO ${this.#parked} (projection, stream_id, event, reason, generation)
           SELECT $1, p.value->>'streamId', p.value->'event', p.value->>'reason', (p.value->>'generation')::integer
             FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS p(value, n)
            ORDER BY p.n`,
          [
            lease.name,
            JSON.stringify(
              park.map(({ event, reason, generation }) => ({
                streamId: event.streamId,
                event,
                reason,
                generation: generation ?? 1,
              })),
            ),
          ],
        );
      }
      if (update.dropParkedGeneration !== undefined) {
        await db.query(`DELETE FROM ${this.#parked} WHERE projection = $1 AND generation = $2`, [
          lease.name,
          update.dropParkedGeneration,
        ]);
      }
      if (unpark.length > 0) {
        await db.query(
          `DELETE FROM ${this.#parked}
            WHERE projection = $1 AND seq IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)`,
          [lease.name, JSON.stringify(unpark)],
        );
      }
    };
    if (tx) return write(tx);
    if (park.length > 0 || unpark.length > 0 || update.dropParkedGeneration !== undefined) {
      return this.sql.transaction(write);
    }
    return write(this.sql);
  }

  /** Parked events of a projection (of one stream when given), in parking order. */
  async parked(name: string, streamId?: string): Promise<ParkedEvent[]> {
    const columns = `projection, seq, stream_id, event, reason, generation, parked_at`;
    const { rows } =
      streamId === undefined
        ? await this.sql.query<ParkedRow>(
            `SELECT ${columns} FROM ${this.#parked} WHERE projection = $1 ORDER BY seq`,
            [name],
          )
        : await this.sql.query<ParkedRow>(
            `SELECT ${columns} FROM ${this.#parked} WHERE projection = $1 AND stream_id = $2 ORDER BY seq`,
            [name, streamId],
          );
    return rows.map(toParkedEvent);
  }

  /** Records an operator request (replacing a pending one), creating the record if needed. */
  async request(
    name: string,
    request: Omit<ProjectionRequest, 'requestedAt' | 'id'>,
  ): Promise<ProjectionRequest> {
    const stored: ProjectionRequest = { ...request, id: newId(), requestedAt: new Date().toISOString() };
    await this.sql.query(
      `INSERT INTO ${this.#projections} AS p (name, position, high_water, status, request, updated_at)
       VALUES ($1, '', '', 'running', $2::jsonb, now())
       ON CONFLICT (name) DO UPDATE SET request = EXCLUDED.request, updated_at = now()`,
      [name, JSON.stringify(stored)],
    );
    return stored;
  }

  /** Forgets a projection: its record (with the lease) and its parked events. */
  async remove(name: string): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      // The record first: it waits for a commit in progress, whose parked rows the next statement sees.
      const { rows } = await tx.query(
        `DELETE FROM ${this.#projections} WHERE name = $1 RETURNING 1 AS removed`,
        [name],
      );
      await tx.query(`DELETE FROM ${this.#parked} WHERE projection = $1`, [name]);
      return rows.length > 0;
    });
  }

  /** Closes the client if the store owns it (`closeClient`). */
  async close(): Promise<void> {
    if (this.#closeClient) await this.sql.close();
  }

  #recordColumns(alias: string): string {
    const p = alias;
    return `${p}.name, ${p}.position, ${p}.high_water, ${p}.status, ${p}.error, ${p}.generation, ${p}.shadow,
      ${p}.owner, ${p}.token, ${p}.lease_expires_at, ${p}.request, ${p}.updated_at,
      (SELECT count(*) FROM ${this.#parked} k WHERE k.projection = ${p}.name) AS parked`;
  }
}

function ttl(ttlMs: number): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new ConfigurationError(
      `A projection lease needs a positive ttl in milliseconds, not ${String(ttlMs)}.`,
      {
        ttlMs,
      },
    );
  }
  return ttlMs;
}

function json<T>(value: T | string | null): T | undefined {
  if (value === null) return undefined;
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}

function toRecord(row: ProjectionRow): ProjectionRecord {
  return {
    name: row.name,
    position: row.position,
    highWater: row.high_water,
    status: row.status,
    error: json(row.error),
    generation: Number(row.generation),
    shadow: json(row.shadow),
    owner: row.owner ?? undefined,
    token: Number(row.token),
    leaseExpiresAt: row.lease_expires_at === null ? undefined : new Date(row.lease_expires_at),
    request: json(row.request),
    parked: Number(row.parked),
    updatedAt: new Date(row.updated_at),
  };
}

function toParkedEvent(row: ParkedRow): ParkedEvent {
  const stored = json(row.event)!;
  return {
    projection: row.projection,
    seq: Number(row.seq),
    streamId: row.stream_id,
    event: { ...stored, recordedAt: new Date(stored.recordedAt) },
    reason: row.reason,
    generation: row.generation,
    parkedAt: new Date(row.parked_at),
  };
}
