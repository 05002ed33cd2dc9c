import type { EventStoreMigration } from './schema';

/**
 * v6 of the store schema: saga state (`SqlSagaStore`). One row per saga instance with its whole
 * state as JSONB, a `version` for optimistic saves, and an ownership lease (`owner`,
 * `lease_expires_at`, on the database clock) so that with several instances exactly one runs a
 * given saga and a dead instance's sagas are claimed by another. A partial unique index allows at
 * most one open saga (unfinished or `compensation_failed`) per saga name and business key.
 * `cancel_requested` carries a cancellation asked on another instance to the owner.
 */
export const SAGAS_MIGRATION: EventStoreMigration = {
  version: 6,
  name: 'create sagas',
  up: (s) => [
    `CREATE TABLE ${s}.sagas (
      saga_id text PRIMARY KEY,
      saga_name text NOT NULL,
      correlation_id text NOT NULL,
      business_key text,
      status text NOT NULL,
      state jsonb NOT NULL,
      version integer NOT NULL,
      owner text,
      lease_expires_at timestamptz,
      cancel_requested text,
      started_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`,
    `CREATE UNIQUE INDEX sagas_open_business_key_idx ON ${s}.sagas (saga_name, business_key)
      WHERE business_key IS NOT NULL
        AND status IN ('pending', 'running', 'compensating', 'compensation_failed')`,
    `CREATE INDEX sagas_unfinished_idx ON ${s}.sagas (started_at)
      WHERE status IN ('pending', 'running', 'compensating')`,
    `CREATE INDEX sagas_correlation_idx ON ${s}.sagas (correlation_id)`,
  ],
  down: (s) => [`DROP TABLE ${s}.sagas`],
};

/**
 * v7 of the store schema: durable timers (`SqlTimerService`). One row per pending timer; firing
 * deletes the row in the transaction that runs the handler (locked with `FOR UPDATE SKIP LOCKED`,
 * so one instance fires it), and cancelling deletes it (waiting for a firing in progress).
 */
export const TIMERS_MIGRATION: EventStoreMigration = {
  version: 7,
  name: 'create timers',
  up: (s) => [
    `CREATE TABLE ${s}.timers (
      timer_id text PRIMARY KEY,
      kind text NOT NULL,
      due_at timestamptz NOT NULL,
      payload jsonb NOT NULL DEFAULT 'null',
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX timers_due_idx ON ${s}.timers (due_at)`,
  ],
  down: (s) => [`DROP TABLE ${s}.timers`],
};

/**
 * v9 of the store schema: the saga read model (`SqlSagaViews`, written by the `potter.sagas`
 * projection). `saga_views` has one row per saga — the whole view as JSONB plus the columns the
 * saga queries filter and sort on (times as ms since the epoch in `double precision`, exactly the
 * numbers of the views, so keyset paging compares what the cursors hold — also fractional clock times);
 * `saga_view_history` one row per saga event. Ids sort in `COLLATE "C"` (byte order), like the
 * in-memory read model.
 */
export const SAGA_VIEWS_MIGRATION: EventStoreMigration = {
  version: 9,
  name: 'create saga read model',
  up: (s) => [
    `CREATE TABLE ${s}.saga_views (
      saga_id text COLLATE "C" PRIMARY KEY,
      saga_name text NOT NULL,
      status text NOT NULL,
      correlation_id text NOT NULL,
      business_key text,
      started_at double precision NOT NULL,
      updated_at double precision NOT NULL,
      version integer NOT NULL,
      view jsonb NOT NULL
    )`,
    `CREATE INDEX saga_views_started_idx ON ${s}.saga_views (started_at, saga_id)`,
    `CREATE INDEX saga_views_updated_idx ON ${s}.saga_views (updated_at, saga_id)`,
    `CREATE INDEX saga_views_status_idx ON ${s}.saga_views (status, started_at, saga_id)`,
    `CREATE INDEX saga_views_name_idx ON ${s}.saga_views (saga_name, started_at, saga_id)`,
    `CREATE INDEX saga_views_correlation_idx ON ${s}.saga_views (correlation_id)`,
    `CREATE TABLE ${s}.saga_view_history (
      saga_id text COLLATE "C" NOT NULL,
      seq integer NOT NULL,
      entry jsonb NOT NULL,
      PRIMARY KEY (saga_id, seq)
    )`,
  ],
  down: (s) => [`DROP TABLE ${s}.saga_view_history`, `DROP TABLE ${s}.saga_views`],
};
