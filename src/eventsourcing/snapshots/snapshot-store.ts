/** A stored snapshot of an aggregate's state. */
export interface Snapshot {
  streamId: string;
  aggregateType: string;
  /** Stream version the state includes (events after it are the tail). */
  version: number;
  /** The aggregate's snapshot schema version when it was taken (`@Aggregate({ snapshotVersion })`). */
  schemaVersion: number;
  /** JSON state. */
  state: Record<string, unknown>;
  createdAt: Date;
}

/** Port for snapshot storage (memory, PostgreSQL…). */
export interface SnapshotStore {
  /** The latest snapshot of a stream, if any. */
  load(streamId: string): Promise<Snapshot | undefined>;
  /** Stores a snapshot, replacing an older one (a snapshot never replaces a newer one). */
  save(snapshot: Snapshot): Promise<void>;
  /** Removes a stream's snapshot. */
  delete(streamId: string): Promise<void>;
}
