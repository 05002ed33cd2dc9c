import { DEFAULT_EVENT_STORE_SCHEMA, quoteSchema } from '../../eventsourcing/sql/schema';
import type { SqlClient } from '../../eventsourcing/sql/sql-client';
import { hash64 } from '../../eventsourcing/sql/sql-statements';
import type { RecordedSagaEvent } from '../saga-event-log';
import type { SagaStatus } from '../types';
import {
  applySagaEvent,
  emptyCounts,
  encodeCursor,
  historyEntryOf,
  resolveFilter,
  resolveHistoryQuery,
  resolveListQuery,
  type ListSagasQuery,
  type SagaFilter,
  type SagaHistoryEntry,
  type SagaHistoryQuery,
  type SagaPage,
  type SagaStatusCounts,
  type SagaView,
  type SagaViewStore,
} from './saga-view';

/** Options of {@link SqlSagaViews}. */
export interface SqlSagaViewsOptions {
  /** The schema whose migrations created `saga_views` (those of the event store, v9). @default 'potter' */
  schema?: string;
}

/** A JSONB column as the driver returns it: parsed by default, a string with a custom parser. */
const parsed = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

/** Builds `WHERE` conditions with numbered parameters. */
class Conditions {
  readonly parts: string[] = [];
  readonly params: unknown[] = [];

  add(sql: (param: string) => string, value: unknown): void {
    this.params.push(value);
    this.parts.push(sql(`$${this.params.length}`));
  }

  filter(filter: ReturnType<typeof resolveFilter>): this {
    if (filter.sagaNames !== undefined) this.add((p) => `saga_name = ANY(${p}::text[])`, filter.sagaNames);
    if (filter.correlationId !== undefined) this.add((p) => `correlation_id = ${p}`, filter.correlationId);
    if (filter.businessKey !== undefined) this.add((p) => `business_key = ${p}`, filter.businessKey);
    if (filter.failedStep !== undefined) this.add((p) => `view->'error'->>'step' = ${p}`, filter.failedStep);
    if (filter.startedAfter !== undefined) this.add((p) => `started_at >= ${p}::float8`, filter.startedAfter);
    if (filter.startedBefore !== undefined)
      this.add((p) => `started_at < ${p}::float8`, filter.startedBefore);
    if (filter.updatedAfter !== undefined) this.add((p) => `updated_at >= ${p}::float8`, filter.updatedAfter);
    if (filter.updatedBefore !== undefined)
      this.add((p) => `updated_at < ${p}::float8`, filter.updatedBefore);
    return this;
  }

  where(): string {
    return this.parts.length === 0 ? '' : `WHERE ${this.parts.join(' AND ')}`;
  }
}

/**
 * The saga read model in PostgreSQL (or PGlite): tables `saga_views` and `saga_view_history`
 * created by the event store's migrations (`migrateEventStore`, v9). The `potter.sagas`
 * projection writes it in its own transaction (the checkpoint's), so each event is applied exactly
 * once; reads use indexes on the filtered and sorted columns, and `list` pages by keyset
 * (`(started_at, saga_id)` or `(updated_at, saga_id)`), so a page costs the same however deep.
 */
export class SqlSagaViews implements SagaViewStore {
  readonly #client: SqlClient;
  readonly #views: string;
  readonly #history: string;
  readonly #statement: string;

  /** The read model beside an SQL event store: same client, same schema. */
  static for(eventStore: { client: SqlClient; schema: string }): SqlSagaViews {
    return new SqlSagaViews(eventStore.client, { schema: eventStore.schema });
  }

  /** A read model on `client` whose tables exist (`migrateEventStore(client, { schema })`). */
  constructor(client: SqlClient, options: SqlSagaViewsOptions = {}) {
    this.#client = client;
    const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    this.#views = `${quoteSchema(schema)}.saga_views`;
    this.#history = `${quoteSchema(schema)}.saga_view_history`;
    this.#statement = `potter_${hash64(schema)}_saga_views`;
  }

  async apply(event: RecordedSagaEvent, tx?: SqlClient): Promise<void> {
    const db = tx ?? this.#client;
    const { rows } = await db.query<{ view: SagaView | string }>(
      `SELECT view FROM ${this.#views} WHERE saga_id = $1`,
      [event.sagaId],
      { name: `${this.#statement}_load` },
    );
    const before = rows[0] === undefined ? undefined : parsed(rows[0].view);
    const after = applySagaEvent(before, event);
    if (after === undefined) return;
    const entry = historyEntryOf(before, event);
    // One round trip: the history row and the view, the view only if it is newer.
    await db.query(
      `WITH history AS (
         INSERT INTO ${this.#history} (saga_id, seq, entry) VALUES ($1, $8::integer, $10::jsonb)
         ON CONFLICT (saga_id, seq) DO NOTHING
       )
       INSERT INTO ${this.#views} AS v
         (saga_id, saga_name, status, correlation_id, business_key, started_at, updated_at, version, view)
       VALUES ($1, $2, $3, $4, $5, $6::float8, $7::float8, $8::integer, $9::jsonb)
       ON CONFLICT (saga_id) DO UPDATE SET
         saga_name = EXCLUDED.saga_name, status = EXCLUDED.status, correlation_id = EXCLUDED.correlation_id,
         business_key = EXCLUDED.business_key, started_at = EXCLUDED.started_at,
         updated_at = EXCLUDED.updated_at, version = EXCLUDED.version, view = EXCLUDED.view
       WHERE v.version < EXCLUDED.version`,
      [
        after.sagaId,
        after.sagaName,
        after.status,
        after.correlationId,
        after.businessKey ?? null,
        after.startedAt,
        after.updatedAt,
        after.version,
        JSON.stringify(after),
        JSON.stringify(entry),
      ],
      { name: `${this.#statement}_apply` },
    );
  }

  async get(sagaId: string): Promise<SagaView | undefined> {
    const { rows } = await this.#client.query<{ view: SagaView | string }>(
      `SELECT view FROM ${this.#views} WHERE saga_id = $1`,
      [sagaId],
    );
    return rows[0] === undefined ? undefined : parsed(rows[0].view);
  }

  async list(query: ListSagasQuery = {}): Promise<SagaPage> {
    const q = resolveListQuery(query);
    const conditions = new Conditions().filter(q);
    if (q.statuses !== undefined) conditions.add((p) => `status = ANY(${p}::text[])`, q.statuses);
    const column = q.sortBy === 'startedAt' ? 'started_at' : 'updated_at';
    const op = q.direction === 'asc' ? '>' : '<';
    const order = q.direction === 'asc' ? 'ASC' : 'DESC';
    if (q.after !== undefined) {
      conditions.params.push(q.after.value, q.after.sagaId);
      const n = conditions.params.length;
      conditions.parts.push(`(${column}, saga_id) ${op} ($${n - 1}::float8, $${n}::text)`);
    }
    conditions.params.push(q.limit + 1);
    const { rows } = await this.#client.query<{ view: SagaView | string }>(
      `SELECT view FROM ${this.#views} ${conditions.where()}
       ORDER BY ${column} ${order}, saga_id ${order} LIMIT $${conditions.params.length}::integer`,
      conditions.params,
    );
    const views = rows.map((row) => parsed(row.view));
    const items = views.slice(0, q.limit);
    const last = items[items.length - 1];
    return views.length > q.limit && last !== undefined
      ? { items, nextCursor: encodeCursor(last, q.sortBy, q.direction) }
      : { items };
  }

  async history(sagaId: string, query: SagaHistoryQuery = {}): Promise<SagaHistoryEntry[]> {
    const { after, limit } = resolveHistoryQuery(query);
    const { rows } = await this.#client.query<{ entry: SagaHistoryEntry | string }>(
      `SELECT entry FROM ${this.#history} WHERE saga_id = $1 AND seq > $2::integer
       ORDER BY seq LIMIT $3::integer`,
      [sagaId, after, limit],
    );
    return rows.map((row) => parsed(row.entry));
  }

  async counts(filter: SagaFilter = {}): Promise<SagaStatusCounts> {
    const conditions = new Conditions().filter(resolveFilter(filter));
    const { rows } = await this.#client.query<{ status: SagaStatus; n: string | number }>(
      `SELECT status, count(*) AS n FROM ${this.#views} ${conditions.where()} GROUP BY status`,
      conditions.params,
    );
    const counts = emptyCounts();
    for (const row of rows) if (row.status in counts) counts[row.status] = Number(row.n);
    return counts;
  }

  async countsByType(filter: SagaFilter = {}): Promise<Readonly<Record<string, SagaStatusCounts>>> {
    const conditions = new Conditions().filter(resolveFilter(filter));
    const { rows } = await this.#client.query<{ saga_name: string; status: SagaStatus; n: string | number }>(
      `SELECT saga_name, status, count(*) AS n FROM ${this.#views} ${conditions.where()}
       GROUP BY saga_name, status`,
      conditions.params,
    );
    const byType: Record<string, Record<SagaStatus, number>> = {};
    for (const row of rows) {
      const counts = (byType[row.saga_name] ??= emptyCounts());
      if (row.status in counts) counts[row.status] = Number(row.n);
    }
    return byType;
  }

  async reset(tx?: SqlClient): Promise<void> {
    const db = tx ?? this.#client;
    await db.query(`DELETE FROM ${this.#history}`);
    await db.query(`DELETE FROM ${this.#views}`);
  }

  /** Does nothing: the client is shared (with the event store, other stores) and stays open. */
  async close(): Promise<void> {}
}
