import type { EventStoreMigration } from './schema';

/**
 * v8 of the store schema: the two-phase-commit coordinator log (`SqlCoordinatorLog`). One row per
 * transaction: its participants and those that confirmed the decision (`jsonb` arrays of names),
 * the decision (`NULL` until decided: presumed abort), an ownership lease (`owner`,
 * `lease_expires_at`, on the database clock) so that one coordinator at a time recovers a
 * transaction, and the times it began, was decided and completed. A partial index finds the
 * unfinished transactions for recovery.
 */
export const TWOPC_MIGRATION: EventStoreMigration = {
  version: 8,
  name: 'create twopc log',
  up: (s) => [
    `CREATE TABLE ${s}.twopc_transactions (
      tx_id text PRIMARY KEY,
      participants jsonb NOT NULL,
      done jsonb NOT NULL DEFAULT '[]',
      decision text CHECK (decision IN ('commit', 'abort')),
      owner text,
      lease_expires_at timestamptz,
      begun_at timestamptz NOT NULL DEFAULT now(),
      decided_at timestamptz,
      completed_at timestamptz
    )`,
    `CREATE INDEX twopc_transactions_unfinished_idx ON ${s}.twopc_transactions (begun_at)
      WHERE completed_at IS NULL`,
  ],
  down: (s) => [`DROP TABLE ${s}.twopc_transactions`],
};
