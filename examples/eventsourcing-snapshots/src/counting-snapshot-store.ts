import type { Snapshot, SnapshotStore } from 'potter';

/**
 * A `SnapshotStore` decorator that counts the snapshots written per stream, for the example's
 * output. Any store implementing the three methods of the port can stand in for another.
 */
export class CountingSnapshotStore implements SnapshotStore {
  readonly #inner: SnapshotStore;
  readonly #writes = new Map<string, number>();

  constructor(inner: SnapshotStore) {
    this.#inner = inner;
  }

  /** Snapshots written for a stream so far. */
  writesOf(streamId: string): number {
    return this.#writes.get(streamId) ?? 0;
  }

  load(streamId: string): Promise<Snapshot | undefined> {
    return this.#inner.load(streamId);
  }

  async save(snapshot: Snapshot): Promise<void> {
    await this.#inner.save(snapshot);
    this.#writes.set(snapshot.streamId, this.writesOf(snapshot.streamId) + 1);
  }

  delete(streamId: string): Promise<void> {
    return this.#inner.delete(streamId);
  }
}
