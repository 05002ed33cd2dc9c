'use strict';
// An outbox relay process for the fault tests: relays the event store in FAULT_SCHEMA to Redis
// Streams (topic FAULT_TOPIC), through the compiled package. Prints JSON lines; killed by the test.
require('reflect-metadata');
const { OutboxRelay } = require('potter');
const { createPostgresEventStore, SqlProjectionStore } = require('potter/postgres');
const { RedisMessageBus } = require('potter/redis');

const print = (line) => process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`);

async function main() {
  const eventStore = await createPostgresEventStore({
    connectionString: process.env.POTTER_POSTGRES_URL,
    schema: process.env.FAULT_SCHEMA,
    migrate: false,
  });
  const inner = new RedisMessageBus({ url: process.env.POTTER_REDIS_URL, partitions: 1 });
  let published = 0;
  const bus = {
    publish: async (topic, envelopes, options) => {
      await inner.publish(topic, envelopes, options);
      published += envelopes.length;
      print({ t: 'published', n: envelopes.length, total: published });
      // Slow down a little so kills land between publishing and recording the position.
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.FAULT_PAUSE_MS || 5)));
    },
    subscribe: (...args) => inner.subscribe(...args),
    close: () => inner.close(),
  };
  const relay = new OutboxRelay({
    eventStore,
    store: SqlProjectionStore.for(eventStore),
    bus,
    topicFor: () => process.env.FAULT_TOPIC,
    batchSize: 50,
    partitions: 2,
    leaseTtlMs: 800,
    pollIntervalMs: 20,
  });
  relay.start();
  print({ t: 'ready' });
  process.on('SIGTERM', async () => {
    await relay.stop();
    await inner.close();
    await eventStore.close();
    process.exit(0);
  });
}

main().catch((error) => {
  print({ t: 'error', message: String(error && error.stack) });
  process.exit(1);
});
