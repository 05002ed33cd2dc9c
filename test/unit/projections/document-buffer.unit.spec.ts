import { MemoryReadModelStore } from 'potter';
import { DocumentBuffer } from '../../../src/projections/document-buffer';

describe('DocumentBuffer (the read-model writes of one transactional batch)', () => {
  it('reads each document once, keeps changes until flush, and writes them in bulk', async () => {
    const store = new MemoryReadModelStore();
    const direct = store.collection<{ n: number; tag?: string }>('c', { generation: 1 });
    await direct.put('a', { n: 1 });
    await direct.put('gone', { n: 0 });
    const gets = jest.spyOn(Object.getPrototypeOf(direct) as { get(): unknown }, 'get');
    const buffer = new DocumentBuffer(store, 1, undefined);
    const docs = buffer.collection<{ n: number; tag?: string }>('c');
    for (let i = 0; i < 5; i++) await docs.update('a', (d) => ({ n: (d?.n ?? 0) + 1 }));
    await docs.put('b', { n: 10 });
    expect(await docs.delete('gone')).toBe(true);
    expect(await docs.delete('never')).toBe(false);
    expect(gets).toHaveBeenCalledTimes(3); // a, gone, never: once each
    // Nothing reached the store yet.
    expect(await direct.get('a')).toEqual({ n: 1 });
    expect(await direct.get('b')).toBeUndefined();
    // Reads that need the store flush first, so a handler sees its own writes.
    expect(await docs.count()).toBe(2);
    expect(await direct.get('a')).toEqual({ n: 6 });
    expect(await direct.get('gone')).toBeUndefined();
    await docs.update('b', (d) => ({ ...d!, tag: 'x' }));
    await buffer.flush();
    expect(await direct.get('b')).toEqual({ n: 10, tag: 'x' });
    gets.mockRestore();
  });

  it('hands out copies: mutating what it returned changes nothing buffered', async () => {
    const store = new MemoryReadModelStore();
    const buffer = new DocumentBuffer(store, 2, undefined);
    const docs = buffer.collection<{ list: number[] }>('c');
    const doc = { list: [1] };
    await docs.put('a', doc);
    doc.list.push(2);
    const read = (await docs.get('a'))!;
    read.list.push(3);
    await buffer.flush();
    expect(await store.collection('c', { generation: 2 }).get('a')).toEqual({ list: [1] });
  });
});
