import {
  MemoryEventStore,
  MemoryMessageBus,
  MemoryProjectionStore,
  OutboxRelay,
  type BrokerMessage,
  type MessageBus,
  type MessageEnvelope,
  type PublishOptions,
} from 'potter';

const append = (store: MemoryEventStore, stream: string, type: string, n: number) =>
  store.appendToStream(
    stream,
    Array.from({ length: n }, (_, i) => ({ type, payload: { i } })),
  );

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collects what a group receives on some topics. */
async function collect(bus: MessageBus, topics: string[]): Promise<BrokerMessage[]> {
  const received: BrokerMessage[] = [];
  for (const topic of topics) {
    await bus.subscribe(topic, 'test', (message) => void received.push(message), { fromBeginning: true });
  }
  return received;
}

const versionsByStream = (messages: BrokerMessage[]): Map<string, number[]> => {
  const map = new Map<string, number[]>();
  for (const m of messages) {
    const stream = m.envelope.metadata.headers['potter-stream-id']!;
    map.set(stream, [
      ...(map.get(stream) ?? []),
      Number(m.envelope.metadata.headers['potter-stream-version']),
    ]);
  }
  return map;
};

describe('OutboxRelay', () => {
  const relays: OutboxRelay[] = [];
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
  });
  const relay = (options: ConstructorParameters<typeof OutboxRelay>[0]): OutboxRelay => {
    const r = new OutboxRelay({ leaseTtlMs: 300, pollIntervalMs: 10, ...options });
    relays.push(r);
    return r;
  };

  it('relays every event once, keyed by stream, each stream in order, to a topic per type', async () => {
    const eventStore = new MemoryEventStore();
    const bus = new MemoryMessageBus();
    const received = await collect(bus, ['events.placed', 'events.shipped']);
    await append(eventStore, 'Order-1', 'placed', 3);
    await append(eventStore, 'Order-2', 'placed', 2);
    await append(eventStore, 'Order-1', 'shipped', 1);
    const r = relay({ eventStore, store: new MemoryProjectionStore(), bus, batchSize: 2 });
    r.start();
    await eventually(() => received.length === 6);
    const log = (await eventStore.readAll()).events;
    expect(new Set(received.map((m) => m.envelope.id))).toEqual(new Set(log.map((e) => e.id)));
    expect(received.every((m) => m.key === m.envelope.metadata.headers['potter-stream-id'])).toBe(true);
    expect(received.find((m) => m.envelope.type === 'shipped')?.topic).toBe('events.shipped');
    const placed = received.filter((m) => m.topic === 'events.placed');
    expect(versionsByStream(placed)).toEqual(
      new Map([
        ['Order-1', [1, 2, 3]],
        ['Order-2', [1, 2]],
      ]),
    );
    expect(received[0]!.envelope.payload).toEqual({ i: 0 });
  });

  it('resumes from its durable position: a restarted relay sends only what is new', async () => {
    const eventStore = new MemoryEventStore();
    const bus = new MemoryMessageBus();
    const store = new MemoryProjectionStore();
    const received = await collect(bus, ['events.tick']);
    await append(eventStore, 'S-1', 'tick', 5);
    const first = relay({ eventStore, store, bus });
    first.start();
    await eventually(() => received.length === 5);
    await first.stop();
    await append(eventStore, 'S-1', 'tick', 3);
    const second = relay({ eventStore, store, bus });
    second.start();
    await eventually(() => received.length === 8);
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toHaveLength(8);
    expect(second.relayed).toEqual([3]);
  });

  it('shares partitions between relays, each relayed by one at a time; a stopped relay’s are taken over', async () => {
    const eventStore = new MemoryEventStore();
    const bus = new MemoryMessageBus();
    const store = new MemoryProjectionStore();
    const received = await collect(bus, ['events.tick']);
    for (let s = 0; s < 20; s++) await append(eventStore, `S-${s}`, 'tick', 3);
    const a = relay({ eventStore, store, bus, partitions: 4, instanceId: 'a' });
    const b = relay({ eventStore, store, bus, partitions: 4, instanceId: 'b' });
    a.start();
    b.start();
    await eventually(() => received.length === 60);
    await a.stop();
    for (let s = 0; s < 20; s++) await append(eventStore, `S-${s}`, 'tick', 1);
    await eventually(() => received.length === 80);
    await new Promise((r) => setTimeout(r, 50));
    // No duplicates without crashes; every stream in order.
    expect(new Set(received.map((m) => m.envelope.id)).size).toBe(80);
    for (const versions of versionsByStream(received).values()) expect(versions).toEqual([1, 2, 3, 4]);
    expect(b.relayed.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(20);
  });

  it('retries after a failed publish: nothing is lost (at-least-once)', async () => {
    const eventStore = new MemoryEventStore();
    const inner = new MemoryMessageBus();
    let failures = 1;
    const flaky: MessageBus = {
      publish: async (topic: string, envelopes: readonly MessageEnvelope[], options?: PublishOptions) => {
        if (failures-- > 0) throw new Error('broker unavailable');
        await inner.publish(topic, envelopes, options);
      },
      subscribe: (...args) => inner.subscribe(...args),
      close: () => inner.close(),
    };
    const received = await collect(inner, ['events.tick']);
    await append(eventStore, 'S-1', 'tick', 4);
    relay({ eventStore, store: new MemoryProjectionStore(), bus: flaky }).start();
    await eventually(() => new Set(received.map((m) => m.envelope.id)).size === 4);
    expect(versionsByStream(received).get('S-1')).toEqual([1, 2, 3, 4]);
  });
});
