import type { Snapshot, SnapshotStore } from 'potter';

const snapshot = (version: number, overrides: Partial<Snapshot> = {}): Snapshot => ({
  streamId: 'Order-1',
  aggregateType: 'Order',
  version,
  schemaVersion: 1,
  state: { lines: [{ sku: 'a', quantity: version }], status: 'open', nested: { deep: [1, 2, 3] } },
  createdAt: new Date('2026-03-04T05:06:07.089Z'),
  ...overrides,
});

/** The behaviour every SnapshotStore adapter must have. */
export function describeSnapshotStoreContract(
  name: string,
  factory: () => Promise<{ store: SnapshotStore; cleanup(): Promise<void> }>,
): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    let store: SnapshotStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ store, cleanup } = await factory()));
    afterEach(() => cleanup());

    it('returns undefined for a stream without snapshot', async () => {
      await expect(store.load('Order-none')).resolves.toBeUndefined();
    });

    it('round-trips a snapshot exactly', async () => {
      await store.save(snapshot(10));
      await expect(store.load('Order-1')).resolves.toEqual(snapshot(10));
    });

    it('replaces an older snapshot but never a newer one', async () => {
      await store.save(snapshot(10));
      await store.save(snapshot(20, { schemaVersion: 2 }));
      await store.save(snapshot(15));
      await expect(store.load('Order-1')).resolves.toEqual(snapshot(20, { schemaVersion: 2 }));
    });

    it('keeps streams apart and deletes one', async () => {
      await store.save(snapshot(1));
      await store.save(snapshot(2, { streamId: 'Order-2' }));
      await store.delete('Order-1');
      await expect(store.load('Order-1')).resolves.toBeUndefined();
      await expect(store.load('Order-2')).resolves.toMatchObject({ version: 2 });
    });

    it('returns copies: changing a loaded state does not change the stored one', async () => {
      await store.save(snapshot(3));
      const loaded = (await store.load('Order-1'))!;
      (loaded.state['lines'] as unknown[]).push('x');
      await expect(store.load('Order-1')).resolves.toEqual(snapshot(3));
    });
  });
}
