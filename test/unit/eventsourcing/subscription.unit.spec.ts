import { MemoryEventStore, type RecordedEvent } from 'potter';

const append = (store: MemoryEventStore, stream: string, n: number) =>
  store.appendToStream(
    stream,
    Array.from({ length: n }, (_, i) => ({ type: 'tick', payload: { i } })),
  );

describe('subscribeToAll (memory)', () => {
  it('catches up, then follows live appends, in order, each event once', async () => {
    const store = new MemoryEventStore();
    await append(store, 'a', 5);
    const seen: RecordedEvent[] = [];
    const subscription = store.subscribeToAll((events) => void seen.push(...events), { batchSize: 2 });
    await subscription.caughtUp();
    expect(seen).toHaveLength(5);
    await append(store, 'b', 3);
    await append(store, 'a', 1);
    await subscription.caughtUp();
    expect(seen.map((e) => `${e.streamId}:${e.streamVersion}`)).toEqual([
      'a:1',
      'a:2',
      'a:3',
      'a:4',
      'a:5',
      'b:1',
      'b:2',
      'b:3',
      'a:6',
    ]);
    expect(subscription.position).toBe(seen[seen.length - 1]!.position);
    await subscription.stop();
    await append(store, 'c', 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toHaveLength(9);
  });

  it('reads the next batch while the handler works on the current one, delivering each once, in order', async () => {
    const store = new MemoryEventStore();
    await append(store, 'a', 10);
    const log: string[] = [];
    const readAll = store.readAll.bind(store);
    store.readAll = async (options) => {
      log.push(`read after ${options?.after === '' ? 'start' : Number(options?.after)}`);
      return readAll(options);
    };
    const seen: number[] = [];
    const subscription = store.subscribeToAll(
      async (events) => {
        log.push(`handle ${events.map((e) => e.payload['i']).join(',')}`);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(...events.map((e) => e.payload['i'] as number));
      },
      { batchSize: 4 },
    );
    await subscription.caughtUp();
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The read of the second batch starts before the first batch is handled.
    expect(log.slice(0, 3)).toEqual(['read after start', 'read after 4', 'handle 0,1,2,3']);
    await subscription.stop();
  });

  it('drops the batch read ahead when the handler fails', async () => {
    const store = new MemoryEventStore();
    await append(store, 'a', 6);
    const seen: number[] = [];
    const subscription = store.subscribeToAll(
      (events) => {
        if (events[0]!.payload['i'] === 0) throw new Error('first batch fails');
        seen.push(...events.map((e) => e.payload['i'] as number));
      },
      { batchSize: 3 },
    );
    await expect(subscription.done).rejects.toThrow('first batch fails');
    expect(seen).toEqual([]);
    expect(subscription.position).toBe('');
  });

  it('does not lose an append made while a read is in flight, nor hang caughtUp', async () => {
    const store = new MemoryEventStore();
    let calls = 0;
    const seen: number[] = [];
    const subscription = store.subscribeToAll(async (events) => {
      calls++;
      seen.push(...events.map((e) => e.payload['i'] as number));
      if (calls === 1) await append(store, 'x', 2); // appended while this batch is being handled
    });
    await append(store, 'x', 1);
    await subscription.caughtUp();
    await subscription.caughtUp();
    expect(seen).toEqual([0, 0, 1]);
    await subscription.stop();
  });

  it('ends with the handler error and can resume from its position', async () => {
    const store = new MemoryEventStore();
    await append(store, 'a', 3);
    let handled = 0;
    const failing = store.subscribeToAll(
      (events) => {
        for (const _ of events) {
          if (handled === 2) throw new Error('projection bug');
          handled++;
        }
      },
      { batchSize: 1 },
    );
    await expect(failing.done).rejects.toThrow('projection bug');
    const resumed: RecordedEvent[] = [];
    const next = store.subscribeToAll((events) => void resumed.push(...events), { after: failing.position });
    await next.caughtUp();
    expect(resumed.map((e) => e.streamVersion)).toEqual([3]);
    await next.stop();
  });

  it('stops through an AbortSignal, and applies filters', async () => {
    const store = new MemoryEventStore();
    await store.appendToStream('Order-1', [{ type: 'placed', payload: {} }]);
    await store.appendToStream('User-1', [{ type: 'placed', payload: {} }]);
    await store.appendToStream('Order-2', [{ type: 'other', payload: {} }]);
    const controller = new AbortController();
    const seen: string[] = [];
    const subscription = store.subscribeToAll((events) => void seen.push(...events.map((e) => e.streamId)), {
      streamIdPrefix: 'Order-',
      eventTypes: ['placed'],
      signal: controller.signal,
    });
    await subscription.caughtUp();
    expect(seen).toEqual(['Order-1']);
    controller.abort();
    await subscription.done;
  });
});

describe('caughtUp during the first read', () => {
  it('resolves without waiting for the poll interval', async () => {
    const store = new MemoryEventStore();
    await append(store, 'a', 3);
    const subscription = store.subscribeToAll(() => undefined, { pollIntervalMs: 60_000 });
    const started = Date.now();
    await subscription.caughtUp();
    expect(Date.now() - started).toBeLessThan(1000);
    await subscription.stop();
  });
});
