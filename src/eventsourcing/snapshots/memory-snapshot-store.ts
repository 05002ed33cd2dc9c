import type { Snapshot, SnapshotStore } from './snapshot-store';

/** Snapshots in process memory. */
export class MemorySnapshotStore implements SnapshotStore {
  readonly #snapshots = new Map<string, Snapshot>();

  async load(streamId: string): Promise<Snapshot | undefined> {
    const snapshot = this.#snapshots.get(streamId);
    return snapshot && { ...snapshot, state: structuredClone(snapshot.state) };
  }

  async save(snapshot: Snapshot): Promise<void> {
    const existing = this.#snapshots.get(snapshot.streamId);
    if (existing && existing.version > snapshot.version) return;
    this.#snapshots.set(snapshot.streamId, { ...snapshot, state: structuredClone(snapshot.state) });
  }

  async delete(streamId: string): Promise<void> {
    this.#snapshots.delete(streamId);
  }
}
