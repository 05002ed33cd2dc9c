import type { EventStoreMigration } from './schema';

/**
 * v3 of the store schema: projection checkpoints and leases, and parked events.
 *
 * - `projections`: one row per projection — checkpoint (`position`, `high_water`), durable
 *   `status` and `error`, read-model `generation` and `shadow` build, the lease (`owner`, fencing
 *   `token`, `lease_expires_at` on the database clock) and a pending operator `request`. Updated at
 *   every commit, so its pages keep free space (fillfactor 70) for HOT updates.
 * - `projection_parked`: events set aside by the `park` failure policy, the whole `RecordedEvent`
 *   as JSON, ordered by `seq`; indexed by stream for per-stream retries.
 */
export const PROJECTIONS_MIGRATION: EventStoreMigration = {
  version: 3,
  name: 'create projections',
  up: (s) => [
    `CREATE TABLE ${s}.projections (
      name text PRIMARY KEY,
      position text NOT NULL,
      high_water text NOT NULL,
      status text NOT NULL DEFAULT 'running',
      error jsonb,
      generation integer NOT NULL DEFAULT 1,
      shadow jsonb,
      owner text,
      token bigint NOT NULL DEFAULT 0,
      lease_expires_at timestamptz,
      request jsonb,
      updated_at timestamptz NOT NULL DEFAULT now()
    ) WITH (fillfactor = 70)`,
    `CREATE TABLE ${s}.projection_parked (
      projection text NOT NULL,
      seq bigserial NOT NULL,
      stream_id text NOT NULL,
      event jsonb NOT NULL,
      reason text NOT NULL,
      generation integer NOT NULL DEFAULT 1,
      parked_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT projection_parked_pkey PRIMARY KEY (projection, seq)
    )`,
    `CREATE INDEX projection_parked_stream_idx ON ${s}.projection_parked (projection, stream_id, seq)`,
  ],
  down: (s) => [`DROP TABLE ${s}.projection_parked`, `DROP TABLE ${s}.projections`],
};

/**
 * v4 of the store schema: read-model documents.
 *
 * - `read_models`: one row per document of one generation of a collection; `id` sorts bytewise
 *   (`COLLATE "C"`), so paging by id is stable across databases. A GIN index (`jsonb_path_ops`)
 *   serves `find` filters (`doc @> …`).
 * - `read_model_collections`: the projection a collection belongs to and the generation readers
 *   see; `activate` switches every collection of a projection in one update.
 */
export const READ_MODELS_MIGRATION: EventStoreMigration = {
  version: 4,
  name: 'create read models',
  up: (s) => [
    `CREATE TABLE ${s}.read_models (
      collection text NOT NULL,
      generation integer NOT NULL,
      id text COLLATE "C" NOT NULL,
      doc jsonb NOT NULL,
      CONSTRAINT read_models_pkey PRIMARY KEY (collection, generation, id)
    )`,
    `CREATE INDEX read_models_doc_idx ON ${s}.read_models USING gin (doc jsonb_path_ops)`,
    `CREATE TABLE ${s}.read_model_collections (
      collection text PRIMARY KEY,
      projection text NOT NULL,
      generation integer NOT NULL DEFAULT 1
    )`,
    `CREATE INDEX read_model_collections_projection_idx ON ${s}.read_model_collections (projection)`,
  ],
  down: (s) => [`DROP TABLE ${s}.read_model_collections`, `DROP TABLE ${s}.read_models`],
};
