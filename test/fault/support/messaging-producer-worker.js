'use strict';
// A producer process for the messaging fault tests, running the compiled package (build first).
// Publishes messages numbered 0..FAULT_COUNT-1 to FAULT_TOPIC on FAULT_BUS ('redis' or 'kafka'),
// one at a time, awaiting each publish. Prints {"t":"acked","n":…} once the broker acknowledged
// message n; a failed publish prints {"t":"failed","n":…} and is retried (same number, a new
// envelope id) until it is acknowledged — while the broker restarts. Prints {"t":"done"} at the end.
// Env: FAULT_BUS, FAULT_TOPIC, FAULT_COUNT, FAULT_PAUSE_MS (between messages, default 2),
// POTTER_REDIS_URL, POTTER_KAFKA_BROKERS, FAULT_PARTITIONS (Kafka, default 1).
// FAULT_PUBLISH_TIMEOUT_MS: a publish not answered by then counts as failed (default 15000).
require('reflect-metadata');
const { randomUUID } = require('node:crypto');

const print = (line) => process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function createBus() {
  if (process.env.FAULT_BUS === 'kafka') {
    const { KafkaMessageBus } = require('potter/kafka');
    return new KafkaMessageBus({
      brokers: (process.env.POTTER_KAFKA_BROKERS || '127.0.0.1:9092').split(','),
      partitions: Number(process.env.FAULT_PARTITIONS || 1),
      sessionTimeoutMs: Number(process.env.FAULT_SESSION_TIMEOUT_MS || 6000),
      heartbeatIntervalMs: 300,
    });
  }
  const { RedisMessageBus } = require('potter/redis');
  return new RedisMessageBus({
    url: process.env.POTTER_REDIS_URL,
    // Fail fast while Redis is down (the test retries), and keep reconnecting quickly.
    clientOptions: {
      disableOfflineQueue: true,
      socket: { connectTimeout: 1000, reconnectStrategy: () => 100 },
    },
  });
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function main() {
  const bus = createBus();
  const topic = process.env.FAULT_TOPIC;
  const count = Number(process.env.FAULT_COUNT);
  const pause = Number(process.env.FAULT_PAUSE_MS || 2);
  const timeoutMs = Number(process.env.FAULT_PUBLISH_TIMEOUT_MS || 15_000);
  print({ t: 'ready' });
  for (let n = 0; n < count; n++) {
    for (let tries = 1; ; tries++) {
      const envelope = {
        id: randomUUID(),
        type: 'fault.Numbered',
        kind: 'event',
        payload: { n },
        metadata: {
          correlationId: randomUUID(),
          timestamp: new Date().toISOString(),
          schemaVersion: 1,
          headers: {},
        },
      };
      try {
        await withTimeout(bus.publish(topic, [envelope], { key: `k-${n % 8}` }), timeoutMs);
        print({ t: 'acked', n, tries });
        break;
      } catch (error) {
        print({ t: 'failed', n, tries, message: String(error && error.message) });
        await sleep(100);
      }
    }
    if (pause > 0) await sleep(pause);
  }
  print({ t: 'done' });
  await bus.close().catch(() => undefined);
  process.exit(0);
}

main().catch((error) => {
  print({ t: 'error', message: String(error && error.stack) });
  process.exit(1);
});
