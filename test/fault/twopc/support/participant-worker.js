// A participant process for the 2PC fault tests: PgParticipant FAULT_NAME (durable tables in
// FAULT_SCHEMA, see ./pg-participant.js) served over Redis Streams with serveTwoPhaseParticipant on
// '<FAULT_TOPIC_PREFIX>.<name>', group 'participant-<name>'. Runs the compiled package (dist/).
//
// Output: JSON lines { t: 'ready' | 'prepared' | 'error', … }. SIGTERM stops serving and exits; the end
// of stdin (the test runner died) exits at once.
'use strict';
const { Pool } = require('pg');
const { serveTwoPhaseParticipant } = require('potter');
const { RedisMessageBus } = require('potter/redis');
const { PgParticipant } = require('./pg-participant');

const env = process.env;
const name = env.FAULT_NAME;

function out(record) {
  process.stdout.write(`${JSON.stringify({ ...record, name, at: Date.now() })}\n`);
}

async function main() {
  const pool = new Pool({ connectionString: env.POTTER_POSTGRES_URL, max: 5 });
  pool.on('error', () => undefined);
  const participant = new PgParticipant(pool, env.FAULT_SCHEMA, name, {
    onPrepared: (txId) => out({ t: 'prepared', txId }),
  });
  const bus = new RedisMessageBus({ url: env.POTTER_REDIS_URL, blockMs: 200 });
  const subscription = await serveTwoPhaseParticipant(bus, participant, {
    topic: `${env.FAULT_TOPIC_PREFIX}.${name}`,
    group: `participant-${name}`,
  });
  out({ t: 'ready', pid: process.pid });
  process.on('SIGTERM', () => {
    subscription
      .stop()
      .then(() => bus.close())
      .then(() => pool.end())
      .finally(() => process.exit(0));
  });
}

process.stdin.on('end', () => process.exit(1));
process.stdin.resume();

main().catch((error) => {
  out({ t: 'error', message: String(error && error.stack ? error.stack : error) });
  process.exit(2);
});
