import type { EventStoreMigration } from './schema';

/**
 * v5 of the store schema: the message inbox (`SqlInbox`). One row per message a consumer has
 * processed, keyed by `(consumer, message_id)` so recording an id twice conflicts; `processed_at`
 * (indexed) lets old rows be purged.
 */
export const INBOX_MIGRATION: EventStoreMigration = {
  version: 5,
  name: 'create inbox',
  up: (s) => [
    `CREATE TABLE ${s}.inbox (
      consumer text NOT NULL,
      message_id text NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT inbox_pkey PRIMARY KEY (consumer, message_id)
    )`,
    `CREATE INDEX inbox_processed_at_idx ON ${s}.inbox (processed_at)`,
  ],
  down: (s) => [`DROP TABLE ${s}.inbox`],
};
