/**
 * The baseline, the limit: plain `pg` Pool INSERTs of the same rows into one simple events table, no
 * expected-version check, no stream table, no global position. One INSERT (its own implicit
 * transaction) per single-event append, one multi-row INSERT per batch; reads are one SELECT.
 */
import { Pool } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { StorageStats, WorkerConfig } from './protocol';
import { packageVersion, serve, storageStats, type StoreUnderTest } from './worker-runtime';
import { envelopeMetadata, initialState, type ItemAddedPayload, type OrderState } from './workload';

const COLUMNS = 6;

interface EventRow {
  id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  payload: ItemAddedPayload;
  metadata: Record<string, unknown>;
  recorded_at: Date;
}

async function createRawStore(config: WorkerConfig): Promise<StoreUnderTest> {
  const pool = new Pool({ connectionString: config.systemConnectionString });
  const table = `"${config.schema}".events`;
  await pool.query(
    `CREATE TABLE ${table} (
       id text PRIMARY KEY,
       stream_id text NOT NULL,
       stream_version integer NOT NULL,
       type text NOT NULL,
       payload jsonb NOT NULL,
       metadata jsonb NOT NULL,
       recorded_at timestamptz NOT NULL DEFAULT now(),
       UNIQUE (stream_id, stream_version)
     )`,
  );

  // One statement text per batch size: `INSERT … VALUES ($1, …, $6), ($7, …, $12), …`.
  const inserts = new Map<number, string>();
  const insertText = (rows: number): string => {
    let text = inserts.get(rows);
    if (text === undefined) {
      const values: string[] = [];
      for (let r = 0; r < rows; r++) {
        const p = r * COLUMNS;
        values.push(`($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}, $${p + 6})`);
      }
      text = `INSERT INTO ${table} (id, stream_id, stream_version, type, payload, metadata) VALUES ${values.join(', ')}`;
      inserts.set(rows, text);
    }
    return text;
  };
  const selectText = `SELECT id, stream_id, stream_version, type, payload, metadata, recorded_at
    FROM ${table} WHERE stream_id = $1 ORDER BY stream_version`;

  return {
    info: {
      libraries: [`pg ${packageVersion('pg')}`],
      poolSize: pool.options.max ?? 10,
      tasks: ['append-1', 'append-10', 'append-100', 'append-8x10', 'read-fold'],
      notes: [
        'table: id text PK, stream_id, stream_version integer, type, payload jsonb, metadata jsonb, recorded_at timestamptz DEFAULT now(), UNIQUE (stream_id, stream_version)',
        'unnamed (unprepared) parameterized statements; ids are UUID v7 made in JS',
      ],
    },
    async append(streamId, events, version) {
      const timestamp = new Date().toISOString();
      const params: unknown[] = [];
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!;
        params.push(
          uuidv7(),
          streamId,
          version + i + 1,
          event.type,
          JSON.stringify(event.payload),
          JSON.stringify(envelopeMetadata(event, timestamp)),
        );
      }
      await pool.query(insertText(events.length), params);
      return version + events.length;
    },
    async readAndFold(streamId) {
      const { rows } = await pool.query<EventRow>(selectText, [streamId]);
      const state: OrderState = initialState();
      for (const row of rows) {
        state.count++;
        state.quantity += row.payload.quantity;
        state.version = row.stream_version;
      }
      return state;
    },
    stats(): Promise<StorageStats> {
      return storageStats(config.connectionString, config.schema, {
        name: 'events',
        payload: 'payload',
        metadata: 'metadata',
      });
    },
    close: () => pool.end(),
  };
}

serve('raw', createRawStore);
