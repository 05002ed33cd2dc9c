import { ProjectionFencedError, type RecordedEvent } from 'potter';
import type { ProjectionStore } from 'potter';

// `structuredClone` in Jest returns values of another realm: `toBeInstanceOf(Date)` would fail.
const isDate = (value: unknown): boolean =>
  Object.prototype.toString.call(value) === '[object Date]' && !Number.isNaN((value as Date).getTime());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A recorded event to park. */
export const recorded = (n: number, streamId = 'Order-1'): RecordedEvent => ({
  id: `event-${n}`,
  streamId,
  streamVersion: n,
  position: `p-${String(n).padStart(4, '0')}`,
  type: 'order.placed',
  schemaVersion: 1,
  payload: { n, lines: [{ sku: 'a', quantity: n }] },
  metadata: {
    correlationId: `correlation-${n}`,
    timestamp: '2026-03-04T05:06:07.089Z',
    schemaVersion: 1,
    headers: { tenant: 't1' },
  },
  recordedAt: new Date('2026-03-04T05:06:07.089Z'),
});

const fault = {
  message: 'boom',
  code: 'Error',
  eventId: 'event-3',
  streamId: 'Order-1',
  eventType: 'order.placed',
  position: 'p-0003',
  attempts: 3,
  at: '2026-03-04T05:06:07.089Z',
};

/** The behaviour every ProjectionStore adapter must have. */
export function describeProjectionStoreContract(
  name: string,
  factory: () => Promise<{ store: ProjectionStore; cleanup(): Promise<void> }>,
): void {
  describe(`ProjectionStore contract: ${name}`, () => {
    let store: ProjectionStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ store, cleanup } = await factory()));
    afterEach(() => cleanup());

    it('knows nothing of a projection that never ran', async () => {
      await expect(store.get('orders')).resolves.toBeUndefined();
      await expect(store.list()).resolves.toEqual([]);
      await expect(store.parked('orders')).resolves.toEqual([]);
      await expect(store.remove('orders')).resolves.toBe(false);
    });

    it('creates the record from init at the first acquire, with token 1', async () => {
      const before = Date.now();
      const taken = await store.acquire('orders', 'a', 10_000, { position: 'p-0007' });
      expect(taken?.lease).toEqual({ name: 'orders', owner: 'a', token: 1 });
      expect(taken?.record).toMatchObject({
        name: 'orders',
        position: 'p-0007',
        highWater: 'p-0007',
        status: 'running',
        error: undefined,
        generation: 1,
        shadow: undefined,
        owner: 'a',
        token: 1,
        request: undefined,
        parked: 0,
      });
      const expires = taken!.record.leaseExpiresAt!.getTime();
      // Database and test clocks may differ a little.
      expect(expires).toBeGreaterThan(before + 8_000);
      expect(expires).toBeLessThan(Date.now() + 12_000);
      expect(isDate(taken!.record.updatedAt)).toBe(true);
      await expect(store.get('orders')).resolves.toEqual(taken!.record);
    });

    it('refuses a live lease to another owner, and gives it after expiry with a higher token', async () => {
      const a = await store.acquire('orders', 'a', 50, { position: '' });
      await expect(store.acquire('orders', 'b', 10_000, { position: 'p-0009' })).resolves.toBeUndefined();
      await sleep(120);
      const b = await store.acquire('orders', 'b', 10_000, { position: 'p-0009' });
      expect(b?.lease.owner).toBe('b');
      expect(b!.lease.token).toBeGreaterThan(a!.lease.token);
      // The record was created by the first acquire: init does not apply again.
      expect(b?.record).toMatchObject({ position: '', owner: 'b', token: b!.lease.token });
      await expect(store.acquire('orders', 'a', 10_000, { position: '' })).resolves.toBeUndefined();
    });

    it('lets the holder re-acquire (token increases) and renew its lease', async () => {
      const first = await store.acquire('orders', 'a', 10_000, { position: '' });
      const again = await store.acquire('orders', 'a', 10_000, { position: '' });
      expect(again?.lease.token).toBe(first!.lease.token + 1);
      await expect(store.renew(again!.lease, 10_000)).resolves.toBe(true);
      await expect(store.renew(first!.lease, 10_000)).resolves.toBe(false);
    });

    it('fences a stale owner: renew is refused and commit writes nothing', async () => {
      const a = (await store.acquire('orders', 'a', 50, { position: '' }))!;
      await store.commit(a.lease, { position: 'p-0001', park: [{ event: recorded(1), reason: 'kept' }] });
      await sleep(120);
      const b = (await store.acquire('orders', 'b', 10_000, { position: '' }))!;
      await expect(store.renew(a.lease, 10_000)).resolves.toBe(false);
      const refused = store.commit(a.lease, {
        position: 'p-0005',
        highWater: 'p-0005',
        status: 'faulted',
        error: fault,
        park: [{ event: recorded(5), reason: 'stale' }],
        unpark: [(await store.parked('orders'))[0]!.seq],
        clearRequest: 'any',
      });
      await expect(refused).rejects.toBeInstanceOf(ProjectionFencedError);
      await expect(refused).rejects.toMatchObject({
        code: 'POTTER_PROJECTION_FENCED',
        details: { projection: 'orders', token: a.lease.token },
      });
      const record = await store.get('orders');
      expect(record).toMatchObject({ position: 'p-0001', status: 'running', error: undefined, parked: 1 });
      expect((await store.parked('orders')).map((p) => p.reason)).toEqual(['kept']);
      // A stale release does not free the new owner's lease.
      await store.release(a.lease);
      await expect(store.get('orders')).resolves.toMatchObject({ owner: 'b', token: b.lease.token });
      await expect(store.acquire('orders', 'c', 10_000, { position: '' })).resolves.toBeUndefined();
    });

    it('releases a lease: another owner takes it at once, with a higher token', async () => {
      const a = (await store.acquire('orders', 'a', 10_000, { position: '' }))!;
      await store.release(a.lease);
      await expect(store.get('orders')).resolves.toMatchObject({
        owner: undefined,
        leaseExpiresAt: undefined,
      });
      await expect(store.renew(a.lease, 10_000)).resolves.toBe(false);
      await expect(store.commit(a.lease, { position: 'p-0001' })).rejects.toBeInstanceOf(
        ProjectionFencedError,
      );
      const b = await store.acquire('orders', 'b', 10_000, { position: '' });
      expect(b?.lease.token).toBe(a.lease.token + 1);
    });

    it('commit changes only the given fields; null clears error and shadow', async () => {
      const { lease } = (await store.acquire('orders', 'a', 10_000, { position: '' }))!;
      await store.commit(lease, { position: 'p-0003', highWater: 'p-0003' });
      await store.commit(lease, { status: 'faulted', error: fault });
      await store.commit(lease, { generation: 2, shadow: { generation: 3, position: 'p-0002' } });
      await expect(store.get('orders')).resolves.toMatchObject({
        position: 'p-0003',
        highWater: 'p-0003',
        status: 'faulted',
        error: fault,
        generation: 2,
        shadow: { generation: 3, position: 'p-0002' },
        owner: 'a',
        token: lease.token,
      });
      await store.commit(lease, { position: 'p-0004' });
      await expect(store.get('orders')).resolves.toMatchObject({
        position: 'p-0004',
        highWater: 'p-0003',
        error: fault,
        shadow: { generation: 3, position: 'p-0002' },
      });
      await store.commit(lease, { status: 'running', error: null, shadow: null });
      const record = await store.get('orders');
      expect(record).toMatchObject({ position: 'p-0004', status: 'running', generation: 2 });
      expect(record?.error).toBeUndefined();
      expect(record?.shadow).toBeUndefined();
      // An empty update still checks the lease.
      await expect(store.commit(lease, {})).resolves.toBeUndefined();
    });

    it('parks events in order across commits, filters by stream, and unparks', async () => {
      const { lease } = (await store.acquire('orders', 'a', 10_000, { position: '' }))!;
      await store.commit(lease, {
        position: 'p-0002',
        park: [
          { event: recorded(1, 'Order-1'), reason: 'first' },
          { event: recorded(2, 'Order-2'), reason: 'second' },
        ],
      });
      await store.commit(lease, {
        park: [
          { event: recorded(3, 'Order-1'), reason: 'third' },
          { event: recorded(4, 'Order-2'), reason: 'fourth' },
        ],
      });
      const parked = await store.parked('orders');
      expect(parked.map((p) => p.reason)).toEqual(['first', 'second', 'third', 'fourth']);
      const seqs = parked.map((p) => p.seq);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(4);
      expect(parked[0]).toMatchObject({ projection: 'orders', streamId: 'Order-1', reason: 'first' });
      expect(parked[0]!.event).toEqual(recorded(1, 'Order-1'));
      expect(isDate(parked[0]!.event.recordedAt)).toBe(true);
      expect(isDate(parked[0]!.parkedAt)).toBe(true);
      expect((await store.parked('orders', 'Order-2')).map((p) => p.reason)).toEqual(['second', 'fourth']);
      await expect(store.parked('orders', 'Order-9')).resolves.toEqual([]);
      await expect(store.get('orders')).resolves.toMatchObject({ parked: 4, position: 'p-0002' });

      await store.commit(lease, { unpark: [seqs[0]!, seqs[3]!], position: 'p-0005' });
      expect((await store.parked('orders')).map((p) => p.reason)).toEqual(['second', 'third']);
      await expect(store.get('orders')).resolves.toMatchObject({ parked: 2, position: 'p-0005' });

      // Parking and unparking in one commit; new events go after the remaining ones.
      await store.commit(lease, { unpark: [seqs[1]!], park: [{ event: recorded(5), reason: 'fifth' }] });
      expect((await store.parked('orders')).map((p) => p.reason)).toEqual(['third', 'fifth']);
    });

    it("records the generation events were parked from, and drops one generation's parked events", async () => {
      const { lease } = (await store.acquire('orders', 'a', 10_000, { position: '' }))!;
      await store.commit(lease, {
        park: [
          { event: recorded(1), reason: 'live' },
          { event: recorded(2), reason: 'shadow', generation: 2 },
          { event: recorded(3), reason: 'live again', generation: 1 },
        ],
      });
      expect((await store.parked('orders')).map((p) => [p.reason, p.generation])).toEqual([
        ['live', 1],
        ['shadow', 2],
        ['live again', 1],
      ]);
      await store.commit(lease, { generation: 2, dropParkedGeneration: 1 });
      expect((await store.parked('orders')).map((p) => p.reason)).toEqual(['shadow']);
      await expect(store.get('orders')).resolves.toMatchObject({ parked: 1, generation: 2 });
    });

    it('keeps parked events apart per projection', async () => {
      const a = (await store.acquire('orders', 'a', 10_000, { position: '' }))!;
      const b = (await store.acquire('invoices', 'a', 10_000, { position: '' }))!;
      await store.commit(a.lease, { park: [{ event: recorded(1), reason: 'orders' }] });
      await store.commit(b.lease, { park: [{ event: recorded(1), reason: 'invoices' }] });
      expect((await store.parked('orders')).map((p) => [p.projection, p.reason])).toEqual([
        ['orders', 'orders'],
      ]);
      expect((await store.parked('invoices')).map((p) => p.reason)).toEqual(['invoices']);
    });

    it('records an operator request (creating the record if needed) until a commit clears it', async () => {
      await store.request('orders', { action: 'stop' });
      const created = await store.get('orders');
      expect(created).toMatchObject({
        name: 'orders',
        position: '',
        highWater: '',
        status: 'running',
        owner: undefined,
        token: 0,
        request: { action: 'stop' },
      });
      expect(Number.isNaN(Date.parse(created!.request!.requestedAt))).toBe(false);

      const { lease, record } = (await store.acquire('orders', 'a', 10_000, { position: 'p-0009' }))!;
      expect(record).toMatchObject({ position: '', token: 1, request: { action: 'stop' } });
      const rebuild = await store.request('orders', { action: 'rebuild', blueGreen: true });
      const retry = await store.request('orders', { action: 'retry-parked', streamId: 'Order-1' });
      expect(retry.id).not.toBe(rebuild.id);
      await expect(store.get('orders')).resolves.toMatchObject({
        request: { action: 'retry-parked', streamId: 'Order-1', id: retry.id },
      });
      await store.commit(lease, { position: 'p-0001' });
      await expect(store.get('orders')).resolves.toMatchObject({ request: { action: 'retry-parked' } });
      // Clearing the request that was carried out leaves a newer one pending.
      await store.commit(lease, { clearRequest: rebuild.id });
      await expect(store.get('orders')).resolves.toMatchObject({ request: { id: retry.id } });
      await store.commit(lease, { clearRequest: retry.id });
      const cleared = await store.get('orders');
      expect(cleared?.request).toBeUndefined();
      expect(cleared?.position).toBe('p-0001');
    });

    it('lists every projection by name', async () => {
      await store.acquire('orders', 'a', 10_000, { position: 'p-0001' });
      await store.acquire('invoices', 'b', 10_000, { position: 'p-0002' });
      await store.request('customers', { action: 'start' });
      const list = await store.list();
      expect(list.map((r) => r.name)).toEqual(['customers', 'invoices', 'orders']);
      expect(list[1]).toMatchObject({ position: 'p-0002', owner: 'b' });
    });

    it('removes a projection with its lease and parked events', async () => {
      const { lease } = (await store.acquire('orders', 'a', 10_000, { position: 'p-0001' }))!;
      await store.commit(lease, { park: [{ event: recorded(1), reason: 'x' }] });
      await store.acquire('invoices', 'a', 10_000, { position: '' });
      await expect(store.remove('orders')).resolves.toBe(true);
      await expect(store.get('orders')).resolves.toBeUndefined();
      await expect(store.parked('orders')).resolves.toEqual([]);
      await expect(store.commit(lease, { position: 'p-0002' })).rejects.toBeInstanceOf(ProjectionFencedError);
      await expect(store.remove('orders')).resolves.toBe(false);
      expect((await store.list()).map((r) => r.name)).toEqual(['invoices']);
      // It starts over from init, with token 1.
      const again = await store.acquire('orders', 'b', 10_000, { position: 'p-0003' });
      expect(again?.record).toMatchObject({ position: 'p-0003', token: 1, parked: 0 });
    });

    it('gives a free lease to exactly one of many owners acquiring at once', async () => {
      const owners = Array.from({ length: 10 }, (_, i) => `owner-${i}`);
      const results = await Promise.all(
        owners.map((owner) => store.acquire('orders', owner, 10_000, { position: '' })),
      );
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.lease.token).toBe(1);
      await expect(store.get('orders')).resolves.toMatchObject({ owner: winners[0]!.lease.owner, token: 1 });
    });

    it('commits in the caller’s transaction (SQL stores): rolled back with it', async () => {
      const sql = store.sql;
      if (!sql) return;
      const { lease } = (await store.acquire('orders', 'a', 10_000, { position: '' }))!;
      await expect(
        sql.transaction(async (tx) => {
          await store.commit(lease, { position: 'p-0009', park: [{ event: recorded(9), reason: 'x' }] }, tx);
          throw new Error('handler failed');
        }),
      ).rejects.toThrow('handler failed');
      await expect(store.get('orders')).resolves.toMatchObject({ position: '', parked: 0 });
      await sql.transaction((tx) => store.commit(lease, { position: 'p-0010' }, tx));
      await expect(store.get('orders')).resolves.toMatchObject({ position: 'p-0010' });
    });
  });
}
