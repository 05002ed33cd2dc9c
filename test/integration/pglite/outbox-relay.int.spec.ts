import { MemoryMessageBus, OutboxRelay, type BrokerMessage } from 'potter';
import { createPGliteEventStore, PGliteSqlClient, SqlProjectionStore } from 'potter/pglite';

let client: PGliteSqlClient;

beforeAll(async () => {
  client = await PGliteSqlClient.open();
}, 60_000);

afterAll(async () => {
  await client?.close();
});

async function eventually(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('OutboxRelay on PGlite', () => {
  it('relays the log in stream order and resumes from its recorded position', async () => {
    const eventStore = await createPGliteEventStore({ db: client.db, schema: 'outbox_relay' });
    const bus = new MemoryMessageBus();
    const received: BrokerMessage[] = [];
    await bus.subscribe('events.tick', 'g', (m) => void received.push(m), { fromBeginning: true });
    for (let s = 0; s < 5; s++) {
      await eventStore.appendToStream(
        `S-${s}`,
        [0, 1, 2].map((v) => ({ type: 'tick', payload: { v } })),
      );
    }
    const store = SqlProjectionStore.for(eventStore);
    const first = new OutboxRelay({ eventStore, store, bus, pollIntervalMs: 20, batchSize: 4 });
    first.start();
    await eventually(() => received.length === 15);
    await first.stop();
    await eventStore.appendToStream('S-0', [{ type: 'tick', payload: { v: 3 } }]);
    const second = new OutboxRelay({ eventStore, store, bus, pollIntervalMs: 20 });
    second.start();
    try {
      await eventually(() => received.length === 16);
      await new Promise((r) => setTimeout(r, 100));
      expect(received).toHaveLength(16);
      const s0 = received.filter((m) => m.key === 'S-0').map((m) => (m.envelope.payload as { v: number }).v);
      expect(s0).toEqual([0, 1, 2, 3]);
      expect(second.relayed).toEqual([1]);
    } finally {
      await second.stop();
      await eventStore.close();
    }
  }, 60_000);
});
