import { DEFAULT_EVENT_STORE_SCHEMA, quoteSchema } from '../sql/schema';
import type { SqlClient } from '../sql/sql-client';
import type { Snapshot, SnapshotStore } from './snapshot-store';

interface SnapshotRow {
  stream_id: string;
  aggregate_type: string;
  version: number;
  schema_version: number;
  state: Record<string, unknown>;
  created_at: Date | string;
}

/**
 * Snapshots in PostgreSQL (or PGlite): one row per stream in `<schema>.snapshots`, created by the
 * event store's migrations. A save never replaces a newer snapshot.
 */
export class SqlSnapshotStore implements SnapshotStore {
  readonly #client: SqlClient;
  readonly #table: string;

  /** The snapshot store beside an SQL event store: same client, same schema (its migrations created the table). */
  static for(eventStore: { client: SqlClient; schema: string }): SqlSnapshotStore {
    return new SqlSnapshotStore(eventStore.client, { schema: eventStore.schema });
  }

  constructor(client: SqlClient, options: { schema?: string } = {}) {
    this.#client = client;
    this.#table = `${quoteSchema(options.schema ?? DEFAULT_EVENT_STORE_SCHEMA)}.snapshots`;
  }

  async load(streamId: string): Promise<Snapshot | undefined> {
    const { rows } = await this.#client.query<SnapshotRow>(
      `SELECT stream_id, aggregate_type, version, schema_version, state, created_at FROM ${this.#table} WHERE stream_id = $1`,
      [streamId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      streamId: row.stream_id,
      aggregateType: row.aggregate_type,
      version: Number(row.version),
      schemaVersion: Number(row.schema_version),
      state: typeof row.state === 'string' ? (JSON.parse(row.state) as Record<string, unknown>) : row.state,
      createdAt: new Date(row.created_at),
    };
  }

  async save(snapshot: Snapshot): Promise<void> {
    await this.#client.query(
      `INSERT INTO ${this.#table} AS s (stream_id, aggregate_type, version, schema_version, state, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (stream_id) DO UPDATE
         SET aggregate_type = EXCLUDED.aggregate_type, version = EXCLUDED.version,
             schema_version = EXCLUDED.schema_version, state = EXCLUDED.state, created_at = EXCLUDED.created_at
         WHERE s.version <= EXCLUDED.version`,
      [
        snapshot.streamId,
        snapshot.aggregateType,
        snapshot.version,
        snapshot.schemaVersion,
        JSON.stringify(snapshot.state),
        snapshot.createdAt,
      ],
    );
  }

  async delete(streamId: string): Promise<void> {
    await this.#client.query(`DELETE FROM ${this.#table} WHERE stream_id = $1`, [streamId]);
  }
}
