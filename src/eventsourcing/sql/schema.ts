import { ConfigurationError } from '../../core/errors';
import { INBOX_MIGRATION } from './inbox-migration';
import { SAGAS_MIGRATION, SAGA_VIEWS_MIGRATION, TIMERS_MIGRATION } from './saga-migrations';
import { TWOPC_MIGRATION } from './twopc-migration';
import { PROJECTIONS_MIGRATION, READ_MODELS_MIGRATION } from './projection-migrations';
import type { SqlClient } from './sql-client';

/** The schema Potter's event store uses when none is given. */
export const DEFAULT_EVENT_STORE_SCHEMA = 'potter';

/**
 * Checks a schema name and returns it double-quoted for SQL. Only lower-case letters, digits and
 * `_` (starting with a letter or `_`, at most 48 characters) are accepted, so the name can be
 * embedded in statements, channel names and index names safely.
 */
export function quoteSchema(schema: string): string {
  if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,47}$/.test(schema)) {
    throw new ConfigurationError(
      `Invalid event store schema name "${String(schema)}": use lower-case letters, digits and "_" (at most 48 characters, not starting with a digit).`,
      { schema },
    );
  }
  return `"${schema}"`;
}

/** One versioned change of the event store's schema. */
export interface EventStoreMigration {
  /** 1, 2, 3, … applied in order; recorded in `<schema>.schema_migrations`. */
  version: number;
  /** Short description, recorded with the version. */
  name: string;
  /** Statements applying the change to `schema` (already quoted). */
  up(schema: string): string[];
  /** Statements undoing it. */
  down(schema: string): string[];
}

/**
 * The event store's migrations. v1 creates the tables:
 *
 * - `streams`: one row per stream — its version, truncation point and soft-deletion flag. Appends
 *   update it under a per-stream lock, which is what makes expected-version checks atomic. Its
 *   pages keep free space (fillfactor 70) so those updates stay HOT (no index write).
 * - `events`: one row per event. `event_id` is the primary key (idempotent appends);
 *   `(stream_id, stream_version)` is unique (no two events at one version). `transaction_id`
 *   (`xid8`, the writing transaction) and `seq` (a sequence) form the global position; see
 *   `sql-event-store.ts` for why the log is ordered by that pair rather than by `seq` alone.
 *
 * v2 adds `snapshots` (one row per stream, for `SqlSnapshotStore`). v3 adds `projections` and
 * `projection_parked` (checkpoints, leases, parked events: `SqlProjectionStore`); v4 adds
 * `read_models` and `read_model_collections` (`SqlReadModelStore`). See `projection-migrations.ts`.
 * v5 adds `inbox` (processed message ids: `SqlInbox`, see `inbox-migration.ts`). v6 adds `sagas`
 * (`SqlSagaStore`) and v7 `timers` (`SqlTimerService`); see `saga-migrations.ts`.
 * v8 adds `twopc_transactions` (`SqlCoordinatorLog`, see `twopc-migration.ts`). v9 adds `saga_views`
 * and `saga_view_history` (the saga read model, `SqlSagaViews`; `saga-migrations.ts`).
 */
export const EVENT_STORE_MIGRATIONS: readonly EventStoreMigration[] = [
  {
    version: 1,
    name: 'create streams and events',
    up: (s) => [
      `CREATE TABLE ${s}.streams (
        stream_id text PRIMARY KEY,
        version integer NOT NULL DEFAULT 0,
        truncated_before integer NOT NULL DEFAULT 0,
        deleted boolean NOT NULL DEFAULT false
      ) WITH (fillfactor = 70)`,
      `CREATE TABLE ${s}.events (
        seq bigserial NOT NULL,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id text NOT NULL,
        stream_id text NOT NULL,
        stream_version integer NOT NULL,
        event_type text NOT NULL,
        schema_version integer NOT NULL,
        payload jsonb NOT NULL,
        metadata jsonb NOT NULL,
        recorded_at timestamptz NOT NULL,
        CONSTRAINT events_pkey PRIMARY KEY (event_id),
        CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
      )`,
      `CREATE INDEX events_position_idx ON ${s}.events (transaction_id, seq)`,
    ],
    down: (s) => [`DROP TABLE ${s}.events`, `DROP TABLE ${s}.streams`],
  },
  {
    version: 2,
    name: 'create snapshots',
    up: (s) => [
      `CREATE TABLE ${s}.snapshots (
        stream_id text PRIMARY KEY,
        aggregate_type text NOT NULL,
        version integer NOT NULL,
        schema_version integer NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL
      )`,
    ],
    down: (s) => [`DROP TABLE ${s}.snapshots`],
  },
  PROJECTIONS_MIGRATION,
  READ_MODELS_MIGRATION,
  INBOX_MIGRATION,
  SAGAS_MIGRATION,
  TIMERS_MIGRATION,
  TWOPC_MIGRATION,
  SAGA_VIEWS_MIGRATION,
];

/** Options of {@link migrateEventStore}. */
export interface MigrateEventStoreOptions {
  /** @default 'potter' */
  schema?: string;
  /** Version to migrate to: higher than the current one applies `up`s, lower applies `down`s. @default the latest */
  to?: number;
}

/** What {@link migrateEventStore} did. */
export interface MigrateEventStoreResult {
  /** Schema version before. */
  from: number;
  /** Schema version after. */
  to: number;
  /** Versions applied (`up`) or reverted (`down`), in the order it ran them. */
  applied: number[];
}

/**
 * Brings the event store's schema to a version (the latest by default). Runs in one transaction
 * under a transaction-scoped advisory lock named after the schema, so processes that migrate at
 * the same time run it one after the other: the first applies the migrations, the others find
 * them applied. Idempotent: re-running changes nothing.
 */
export async function migrateEventStore(
  client: SqlClient,
  options: MigrateEventStoreOptions = {},
): Promise<MigrateEventStoreResult> {
  const schemaName = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
  const schema = quoteSchema(schemaName);
  const latest = EVENT_STORE_MIGRATIONS.at(-1)?.version ?? 0;
  const target = options.to ?? latest;
  if (!Number.isInteger(target) || target < 0 || target > latest) {
    throw new ConfigurationError(
      `Cannot migrate the event store to version ${target}: versions are 0 to ${latest}.`,
      {
        to: target,
      },
    );
  }
  return client.transaction(async (tx) => {
    // Advisory locks never conflict with row or table locks; the key pair is private to Potter.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('potter.migrations'), hashtext($1))`, [schemaName]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const { rows } = await tx.query<{ version: number }>(
      `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
    );
    const done = new Set(rows.map((row) => row.version));
    const from = rows.at(-1)?.version ?? 0;
    const applied: number[] = [];
    for (const migration of EVENT_STORE_MIGRATIONS) {
      if (migration.version > target || done.has(migration.version)) continue;
      for (const statement of migration.up(schema)) await tx.query(statement);
      await tx.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    for (const migration of [...EVENT_STORE_MIGRATIONS].reverse()) {
      if (migration.version <= target || !done.has(migration.version)) continue;
      for (const statement of migration.down(schema)) await tx.query(statement);
      await tx.query(`DELETE FROM ${schema}.schema_migrations WHERE version = $1`, [migration.version]);
      applied.push(migration.version);
    }
    return { from, to: target, applied };
  });
}
