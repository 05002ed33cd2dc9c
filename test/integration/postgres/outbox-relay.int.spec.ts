import { MemoryInbox, MemoryMessageBus, OutboxRelay, type BrokerMessage } from 'potter';
import { createPostgresEventStore, SqlProjectionStore, type SqlEventStore } from 'potter/postgres';
import { usePostgresSchemas } from '../../support/postgres-schemas';

const pg = usePostgresSchemas('outbox', { max: 12 });

async function eventually(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met in time: ${check.toString()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('OutboxRelay on PostgreSQL', () => {
  let store: SqlEventStore;
  beforeEach(async () => {
    store = await createPostgresEventStore({ pool: pg.pool(), schema: pg.schema() });
  });
  afterEach(async () => store.close());

  it('relays concurrent appends with several relays: nothing lost, each stream in order; the inbox drops repeats', async () => {
    const bus = new MemoryMessageBus();
    const inbox = new MemoryInbox();
    const handled: BrokerMessage[] = [];
    let deliveries = 0;
    await bus.subscribe(
      'events.tick',
      'consumer',
      async (message) => {
        deliveries++;
        await inbox.once('consumer', message.envelope.id, async () => void handled.push(message));
      },
      { fromBeginning: true, concurrency: 4 },
    );
    // Relay a publishes, then fails before recording its position once: its batch goes out again.
    let failOnce = true;
    const projectionStore = SqlProjectionStore.for(store);
    const relays = ['a', 'b'].map(
      (instanceId) =>
        new OutboxRelay({
          eventStore: store,
          store: projectionStore,
          instanceId,
          partitions: 4,
          batchSize: 50,
          leaseTtlMs: 600,
          pollIntervalMs: 20,
          bus: {
            publish: async (topic, envelopes, options) => {
              await bus.publish(topic, envelopes, options);
              if (instanceId === 'a' && failOnce) {
                failOnce = false;
                throw new Error('relay crashed after publishing');
              }
            },
            subscribe: (...args) => bus.subscribe(...args),
            close: () => bus.close(),
          },
        }),
    );
    relays.forEach((r) => r.start());
    try {
      // 8 writers, 40 streams, 10 events each, appended concurrently one by one.
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let v = 0; v < 10; v++) {
            for (let s = w; s < 40; s += 8) {
              await store.appendToStream(`S-${s}`, [{ type: 'tick', payload: { s, v } }]);
            }
          }
        }),
      );
      await eventually(() => handled.length === 400).catch((e: Error) => {
        throw new Error(`${e.message}; handled ${handled.length}, deliveries ${deliveries}`);
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(handled).toHaveLength(400);
      expect(deliveries).toBeGreaterThan(400); // the repeated batch was delivered, and dropped
      const byStream = new Map<string, number[]>();
      for (const m of handled) {
        const stream = m.envelope.metadata.headers['potter-stream-id']!;
        byStream.set(stream, [...(byStream.get(stream) ?? []), (m.envelope.payload as { v: number }).v]);
      }
      expect(byStream.size).toBe(40);
      // Per stream, in order (the per-key order of the bus, from the relay's per-stream order).
      for (const versions of byStream.values()) expect(versions).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const records = await projectionStore.list();
      expect(records.filter((r) => r.name.startsWith('outbox:relay:'))).toHaveLength(4);
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
  }, 60_000);
});
