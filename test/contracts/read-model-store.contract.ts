import { ConfigurationError } from 'potter';
import type { FindOptions, ReadModelStore } from 'potter';

interface Order extends Record<string, unknown> {
  id: string;
  customer: string;
  total: number;
  status: 'open' | 'paid';
  lines: { sku: string; quantity: number }[];
}

interface Counter extends Record<string, unknown> {
  count: number;
}

const order = (id: string, customer: string, total: number, status: Order['status'] = 'open'): Order => ({
  id,
  customer,
  total,
  status,
  lines: [{ sku: `sku-${id}`, quantity: 1 }],
});

/** Options of {@link describeReadModelStoreContract}. */
export interface ReadModelStoreContractOptions {
  /** The store has `sql`: writes in a transaction commit or roll back with it. */
  transactional?: boolean;
}

/** The behaviour every ReadModelStore adapter must have. */
export function describeReadModelStoreContract(
  name: string,
  factory: () => Promise<{ store: ReadModelStore; cleanup(): Promise<void> }>,
  options: ReadModelStoreContractOptions = {},
): void {
  describe(`ReadModelStore contract: ${name}`, () => {
    let store: ReadModelStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ store, cleanup } = await factory()));
    afterEach(() => cleanup());

    const seed = async (): Promise<void> => {
      const orders = store.collection<Order>('orders');
      await orders.put('o-1', order('o-1', 'alice', 30));
      await orders.put('o-2', order('o-2', 'bob', 10, 'paid'));
      await orders.put('o-3', order('o-3', 'alice', 20, 'paid'));
      await orders.put('o-4', order('o-4', 'carol', 20));
      await orders.put('o-5', order('o-5', 'alice', 50, 'paid'));
    };
    const ids = (documents: Order[]): string[] => documents.map((d) => d.id);

    it('puts, gets, replaces and deletes documents', async () => {
      const orders = store.collection<Order>('orders');
      expect(orders.name).toBe('orders');
      await expect(orders.get('o-1')).resolves.toBeUndefined();
      await orders.put('o-1', order('o-1', 'alice', 30));
      await expect(orders.get('o-1')).resolves.toEqual(order('o-1', 'alice', 30));
      await orders.put('o-1', order('o-1', 'alice', 35, 'paid'));
      await expect(orders.get('o-1')).resolves.toEqual(order('o-1', 'alice', 35, 'paid'));
      await expect(orders.delete('o-1')).resolves.toBe(true);
      await expect(orders.delete('o-1')).resolves.toBe(false);
      await expect(orders.get('o-1')).resolves.toBeUndefined();
    });

    it('puts and deletes many documents at once (the last entry of an id wins)', async () => {
      const docs = store.collection<{ n: number }>('many');
      await docs.put('keep', { n: 0 });
      await docs.putMany([
        ['a', { n: 1 }],
        ['b', { n: 2 }],
        ['a', { n: 3 }],
      ]);
      await docs.putMany([]);
      expect(await docs.get('a')).toEqual({ n: 3 });
      expect(await docs.get('b')).toEqual({ n: 2 });
      expect(await docs.deleteMany(['a', 'missing', 'b'])).toBe(2);
      expect(await docs.deleteMany([])).toBe(0);
      expect(await docs.count()).toBe(1);
      // Generations are respected.
      await store.collection<{ n: number }>('many', { generation: 2 }).putMany([['x', { n: 9 }]]);
      expect(await docs.get('x')).toBeUndefined();
      expect(await store.collection('many', { generation: 2 }).get('x')).toEqual({ n: 9 });
    });

    it('keeps collections apart', async () => {
      await store.collection('orders').put('x', { in: 'orders' });
      await store.collection('invoices').put('x', { in: 'invoices' });
      await expect(store.collection('orders').get('x')).resolves.toEqual({ in: 'orders' });
      await expect(store.collection('invoices').get('x')).resolves.toEqual({ in: 'invoices' });
      await expect(store.collection('orders').count()).resolves.toBe(1);
    });

    it('stores copies: changing a written or read document does not change the stored one', async () => {
      const orders = store.collection<Order>('orders');
      const written = order('o-1', 'alice', 30);
      await orders.put('o-1', written);
      written.lines.push({ sku: 'added-after-put', quantity: 9 });
      const read = (await orders.get('o-1'))!;
      read.lines[0]!.quantity = 99;
      read.total = 0;
      await expect(orders.get('o-1')).resolves.toEqual(order('o-1', 'alice', 30));
    });

    it('updates read-modify-write: creates, changes and (returning undefined) deletes', async () => {
      const counters = store.collection<Counter>('counters');
      const seen: (Counter | undefined)[] = [];
      await expect(
        counters.update('c', (current) => {
          seen.push(current);
          return { count: (current?.count ?? 0) + 1 };
        }),
      ).resolves.toEqual({ count: 1 });
      await expect(counters.update('c', (current) => ({ count: current!.count + 10 }))).resolves.toEqual({
        count: 11,
      });
      await expect(counters.get('c')).resolves.toEqual({ count: 11 });
      expect(seen).toEqual([undefined]);
      // Changing the given document in place and returning it works too.
      await counters.update('c', (current) => {
        current!.count++;
        return current;
      });
      await expect(counters.get('c')).resolves.toEqual({ count: 12 });
      await expect(counters.update('c', () => undefined)).resolves.toBeUndefined();
      await expect(counters.get('c')).resolves.toBeUndefined();
      await expect(counters.update('missing', () => undefined)).resolves.toBeUndefined();
      await expect(counters.count()).resolves.toBe(0);
    });

    it('serializes concurrent updates of one document (none lost)', async () => {
      const counters = store.collection<Counter>('counters');
      const increment = (id: string) =>
        counters.update(id, (current) => ({ count: (current?.count ?? 0) + 1 }));
      await counters.put('existing', { count: 0 });
      await Promise.all(Array.from({ length: 20 }, () => increment('existing')));
      await expect(counters.get('existing')).resolves.toEqual({ count: 20 });
      // Also when the document does not exist yet (nothing to lock at first).
      await Promise.all(Array.from({ length: 20 }, () => increment('new')));
      await expect(counters.get('new')).resolves.toEqual({ count: 20 });
    });

    it('finds documents by top-level field values, sorted by id by default', async () => {
      await seed();
      const orders = store.collection<Order>('orders');
      expect(ids(await orders.find())).toEqual(['o-1', 'o-2', 'o-3', 'o-4', 'o-5']);
      expect(ids(await orders.find({ customer: 'alice' }))).toEqual(['o-1', 'o-3', 'o-5']);
      expect(ids(await orders.find({ customer: 'alice', status: 'paid' }))).toEqual(['o-3', 'o-5']);
      expect(ids(await orders.find({ customer: 'nobody' }))).toEqual([]);
      expect(ids(await orders.find({ total: 20 }))).toEqual(['o-3', 'o-4']);
      expect(ids(await orders.find({ customer: undefined, status: 'open' }))).toEqual(['o-1', 'o-4']);
      expect(ids(await orders.findBy('status', 'paid'))).toEqual(['o-2', 'o-3', 'o-5']);
      expect(ids(await orders.findBy('customer', 'alice', { orderBy: 'total', direction: 'desc' }))).toEqual([
        'o-5',
        'o-1',
        'o-3',
      ]);
      await expect(orders.count()).resolves.toBe(5);
      await expect(orders.count({ customer: 'alice' })).resolves.toBe(3);
      await expect(orders.count({ status: 'paid', total: 10 })).resolves.toBe(1);
    });

    it('matches arrays and objects exactly, not by containment', async () => {
      const orders = store.collection<Order>('orders');
      await orders.put('o-1', { ...order('o-1', 'alice', 1), lines: [{ sku: 'a', quantity: 1 }] });
      await orders.put('o-2', {
        ...order('o-2', 'alice', 1),
        lines: [
          { sku: 'a', quantity: 1 },
          { sku: 'b', quantity: 2 },
        ],
      });
      expect(ids(await orders.find({ lines: [{ sku: 'a', quantity: 1 }] }))).toEqual(['o-1']);
      await expect(orders.count({ lines: [{ sku: 'b', quantity: 2 }] })).resolves.toBe(0);
    });

    it('sorts by a field (ties by id), in either direction, and pages', async () => {
      await seed();
      const orders = store.collection<Order>('orders');
      const byTotal: FindOptions<Order> = { orderBy: 'total' };
      expect(ids(await orders.find({}, byTotal))).toEqual(['o-2', 'o-3', 'o-4', 'o-1', 'o-5']);
      expect(ids(await orders.find(undefined, { ...byTotal, direction: 'desc' }))).toEqual([
        'o-5',
        'o-1',
        'o-4',
        'o-3',
        'o-2',
      ]);
      expect(ids(await orders.find({}, { orderBy: 'customer' }))).toEqual([
        'o-1',
        'o-3',
        'o-5',
        'o-2',
        'o-4',
      ]);
      expect(ids(await orders.find({}, { direction: 'desc' }))).toEqual(['o-5', 'o-4', 'o-3', 'o-2', 'o-1']);
      expect(ids(await orders.find({}, { ...byTotal, limit: 2 }))).toEqual(['o-2', 'o-3']);
      expect(ids(await orders.find({}, { ...byTotal, limit: 2, offset: 2 }))).toEqual(['o-4', 'o-1']);
      expect(ids(await orders.find({}, { ...byTotal, limit: 2, offset: 4 }))).toEqual(['o-5']);
      expect(ids(await orders.find({}, { ...byTotal, offset: 5 }))).toEqual([]);
      // Documents without the field come last (first in descending order).
      await orders.put('o-0', { id: 'o-0' } as Order);
      expect(ids(await orders.find({}, byTotal)).at(-1)).toBe('o-0');
      expect(ids(await orders.find({}, { ...byTotal, direction: 'desc' }))[0]).toBe('o-0');
    });

    it('defaults to 100 documents per find', async () => {
      const counters = store.collection<Counter>('counters');
      for (let i = 0; i < 105; i++) await counters.put(`c-${String(i).padStart(3, '0')}`, { count: i });
      await expect(counters.find()).resolves.toHaveLength(100);
      await expect(counters.find({}, { limit: 200 })).resolves.toHaveLength(105);
    });

    it('refuses bad sort fields, limits and offsets with ConfigurationError', async () => {
      const orders = store.collection<Order>('orders');
      const bad = [
        { orderBy: 'total; DROP TABLE x' },
        { orderBy: "total'" },
        { orderBy: 'a.b' },
        { orderBy: '' },
        { limit: 0 },
        { limit: 10_001 },
        { limit: 1.5 },
        { offset: -1 },
        { direction: 'sideways' },
      ] as unknown as FindOptions<Order>[];
      for (const options of bad) {
        await expect(orders.find({}, options)).rejects.toBeInstanceOf(ConfigurationError);
      }
      await expect(orders.findBy('status', 'open', { limit: -5 })).rejects.toBeInstanceOf(ConfigurationError);
      await expect(orders.find({}, { limit: 10_000, orderBy: 'customer_2' })).resolves.toEqual([]);
    });

    it('keeps generations apart: builds one while readers see another, then switches', async () => {
      await store.attach('orders', 'order-list');
      await store.attach('customers', 'order-list');
      await store.attach('other', 'other-projection');
      await store.attach('orders', 'order-list'); // idempotent
      const orders = store.collection<Order>('orders');
      const customers = store.collection('customers');
      await orders.put('o-1', order('o-1', 'alice', 1));
      await customers.put('alice', { orders: 1 });
      await store.collection('other').put('x', { generation: 1 });

      // A blue/green rebuild fills generation 2.
      const nextOrders = store.collection<Order>('orders', { generation: 2 });
      await nextOrders.put('o-1', order('o-1', 'alice', 2));
      await nextOrders.put('o-2', order('o-2', 'bob', 2));
      await store.collection('customers', { generation: 2 }).put('alice', { orders: 2 });
      await store.collection('other', { generation: 2 }).put('x', { generation: 2 });
      await expect(orders.get('o-1')).resolves.toMatchObject({ total: 1 });
      await expect(orders.count()).resolves.toBe(1);
      await expect(nextOrders.count()).resolves.toBe(2);
      await expect(store.collection('orders', { generation: 1 }).count()).resolves.toBe(1);

      await store.activate('order-list', 2);
      // Existing collection handles follow the switch.
      await expect(orders.get('o-1')).resolves.toMatchObject({ total: 2 });
      expect(ids(await orders.find())).toEqual(['o-1', 'o-2']);
      await expect(customers.get('alice')).resolves.toEqual({ orders: 2 });
      await expect(store.collection('other').get('x')).resolves.toEqual({ generation: 1 });
      // Writes without a generation go to the active one.
      await orders.put('o-3', order('o-3', 'carol', 2));
      await expect(nextOrders.get('o-3')).resolves.toMatchObject({ customer: 'carol' });

      await store.dropGeneration('order-list', 1);
      await expect(store.collection('orders', { generation: 1 }).count()).resolves.toBe(0);
      await expect(store.collection('customers', { generation: 1 }).get('alice')).resolves.toBeUndefined();
      await expect(store.collection('other', { generation: 1 }).get('x')).resolves.toEqual({ generation: 1 });
      await expect(orders.count()).resolves.toBe(3);
    });

    it('reads generation 1 of collections never attached or activated', async () => {
      await store.collection('loose').put('a', { v: 1 });
      await expect(store.collection('loose', { generation: 1 }).get('a')).resolves.toEqual({ v: 1 });
      await expect(store.collection('loose', { generation: 2 }).get('a')).resolves.toBeUndefined();
      // Activating a projection with no collections changes nothing.
      await store.activate('nobody', 5);
      await expect(store.collection('loose').get('a')).resolves.toEqual({ v: 1 });
    });

    if (options.transactional) {
      it('writes in the caller’s transaction: rolled back when it throws', async () => {
        const sql = store.sql!;
        await store.collection('orders').put('kept', { v: 0 });
        await expect(
          sql.transaction(async (tx) => {
            const orders = store.collection('orders', { tx });
            await orders.put('o-1', { v: 1 });
            await orders.update('kept', (current) => ({ v: Number(current!['v']) + 1 }));
            await orders.delete('kept');
            await store.attach('orders', 'order-list', tx);
            await expect(orders.count()).resolves.toBe(1);
            throw new Error('handler failed');
          }),
        ).rejects.toThrow('handler failed');
        const orders = store.collection('orders');
        await expect(orders.get('o-1')).resolves.toBeUndefined();
        await expect(orders.get('kept')).resolves.toEqual({ v: 0 });

        await sql.transaction(async (tx) => {
          await store.collection('orders', { tx }).put('o-2', { v: 2 });
          await store.attach('orders', 'order-list', tx);
          await store.collection('orders', { tx, generation: 2 }).put('o-2', { v: 3 });
          await store.activate('order-list', 2, tx);
        });
        await expect(orders.get('o-2')).resolves.toEqual({ v: 3 });
        await expect(store.collection('orders', { generation: 1 }).get('o-2')).resolves.toEqual({ v: 2 });
      });
    }
  });
}
