'use strict';
// A consumer process for the messaging fault tests, running the compiled package (build first).
// Subscribes to FAULT_TOPIC as group FAULT_GROUP on FAULT_BUS ('redis' or 'kafka') and, for each
// message, prints {"t":"holding","n":…} and then never resolves its handler: the message is never
// acknowledged, and the test SIGKILLs this process while it holds messages.
// Env: FAULT_BUS, FAULT_TOPIC, FAULT_GROUP, FAULT_CONCURRENCY (default 4), FAULT_CLAIM_IDLE_MS
// (Redis, default 1500), FAULT_CLAIM_INTERVAL_MS (Redis, default 100), POTTER_REDIS_URL,
// POTTER_KAFKA_BROKERS, FAULT_PARTITIONS (Kafka topic partitions, default 1),
// FAULT_SESSION_TIMEOUT_MS (Kafka, default 6000).
require('reflect-metadata');

const print = (line) =>
  process.stdout.write(`${JSON.stringify({ ...line, pid: process.pid, at: Date.now() })}\n`);

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
    claimIdleMs: Number(process.env.FAULT_CLAIM_IDLE_MS || 1500),
    claimIntervalMs: Number(process.env.FAULT_CLAIM_INTERVAL_MS || 100),
  });
}

async function main() {
  const bus = createBus();
  await bus.subscribe(
    process.env.FAULT_TOPIC,
    process.env.FAULT_GROUP,
    (message) => {
      print({
        t: 'holding',
        n: message.envelope.payload.n,
        attempt: message.attempt,
        brokerId: message.brokerId,
      });
      return new Promise(() => undefined); // never acknowledges
    },
    { concurrency: Number(process.env.FAULT_CONCURRENCY || 4), fromBeginning: true },
  );
  print({ t: 'ready' });
}

main().catch((error) => {
  print({ t: 'error', message: String(error && error.stack) });
  process.exit(1);
});
