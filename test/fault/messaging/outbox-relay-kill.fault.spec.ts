import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { MemoryInbox, type BrokerMessage } from 'potter';
import { createPostgresEventStore } from 'potter/postgres';
import { RedisMessageBus } from 'potter/redis';
import { usePostgresSchemas } from '../../support/postgres-schemas';
import { postgresUrl, redisUrl } from '../../support/services';

const pg = usePostgresSchemas('fault_outbox');
const ROOT = join(__dirname, '..', '..', '..');
const WORKER = join(__dirname, '..', 'support', 'outbox-relay-worker.js');

interface Relay {
  child: ChildProcess;
  published(): number;
}

function startRelay(schema: string, topic: string): Relay {
  const child = spawn(process.execPath, [WORKER], {
    cwd: ROOT,
    env: {
      ...process.env,
      POTTER_POSTGRES_URL: postgresUrl(),
      POTTER_REDIS_URL: redisUrl(),
      FAULT_SCHEMA: schema,
      FAULT_TOPIC: topic,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let total = 0;
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('"published"')) total = (JSON.parse(line) as { total: number }).total;
    }
  });
  return { child, published: () => total };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('outbox relay killed mid-batch (PostgreSQL → Redis Streams)', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('loses no event; the inbox removes the duplicates; each stream arrives in order', async () => {
    const schema = pg.schema();
    const topic = `fault-outbox-${randomUUID()}`;
    const store = await createPostgresEventStore({ pool: pg.pool(), schema });
    const STREAMS = 50;
    const PER_STREAM = 40;
    for (let v = 0; v < PER_STREAM; v += 10) {
      await Promise.all(
        Array.from({ length: STREAMS }, (_, s) =>
          store.appendToStream(
            `S-${s}`,
            Array.from({ length: 10 }, (_, i) => ({ type: 'fault.Tick', payload: { s, v: v + i } })),
          ),
        ),
      );
    }
    const total = STREAMS * PER_STREAM;

    const consumerBus = new RedisMessageBus({ url: redisUrl(), partitions: 1 });
    const inbox = new MemoryInbox();
    const firstSeen: BrokerMessage[] = [];
    let deliveries = 0;
    const subscription = await consumerBus.subscribe(
      topic,
      'fault-consumer',
      async (message) => {
        deliveries++;
        await inbox.once('fault-consumer', message.envelope.id, async () => void firstSeen.push(message));
      },
      { fromBeginning: true },
    );
    try {
      // Kill the relay at random points while it publishes, four times, then let one finish.
      for (let kill = 0; kill < 4; kill++) {
        const relay = startRelay(schema, topic);
        children.push(relay.child);
        const target = relay.published() + 100 + Math.floor(Math.random() * 200);
        await until(() => relay.published() >= target || firstSeen.length >= total, 'relay progress');
        relay.child.kill('SIGKILL');
        await new Promise((resolve) => relay.child.once('exit', resolve));
      }
      const last = startRelay(schema, topic);
      children.push(last.child);
      await until(() => firstSeen.length >= total, `all ${total} events (have ${firstSeen.length})`, 60_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(firstSeen).toHaveLength(total);
      const ids = new Set(firstSeen.map((m) => m.envelope.id));
      expect(ids.size).toBe(total);
      const stored = new Set<string>();
      for (let s = 0; s < STREAMS; s++) for (const e of await store.readStream(`S-${s}`)) stored.add(e.id);
      expect(ids).toEqual(stored);
      // Per stream, the first deliveries come in order.
      const byStream = new Map<number, number[]>();
      for (const m of firstSeen) {
        const { s, v } = m.envelope.payload as { s: number; v: number };
        byStream.set(s, [...(byStream.get(s) ?? []), v]);
      }
      for (const versions of byStream.values()) {
        expect(versions).toEqual(Array.from({ length: PER_STREAM }, (_, i) => i));
      }
      // Kills between publishing and recording the position did cause redeliveries.
      expect(deliveries).toBeGreaterThanOrEqual(total);
      if (process.env.FAULT_VERBOSE) console.log(`deliveries ${deliveries} for ${total} events`);
      last.child.kill('SIGTERM');
      await new Promise((resolve) => last.child.once('exit', resolve));
    } finally {
      await subscription.stop();
      await consumerBus.close();
      await store.close();
    }
  }, 120_000);
});
