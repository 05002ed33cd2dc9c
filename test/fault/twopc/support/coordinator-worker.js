// A two-phase-commit coordinator process for the 2PC fault tests (test/fault/twopc/*.fault.spec.ts).
// It runs the compiled package (dist/, through the package's self-reference): `npm run build` first.
// The coordinator log is SqlCoordinatorLog on PostgreSQL; participants are PgParticipant
// (./pg-participant.js, durable tables of their own), in this process or — FAULT_REMOTE — in
// participant processes reached over Redis Streams (MessageBusParticipant).
//
// Configuration (environment):
//   POTTER_POSTGRES_URL  the database;  FAULT_SCHEMA  schema of twopc_transactions and the tables
//   FAULT_OWNER          the coordinator's id in the log
//   FAULT_LOCAL          participants in this process, comma-separated (e.g. 'a,b')
//   FAULT_REMOTE         participants reached over Redis (e.g. 'r'), with POTTER_REDIS_URL and
//                        FAULT_TOPIC_PREFIX (topics '<prefix>.<name>', replies '<prefix>.replies');
//                        the coordinator then also answers outcome questions on '<prefix>.outcomes'
//   FAULT_TXS            JSON array of transactions run one after the other (FAULT_CONCURRENCY at a
//                        time, default 1): { txId, fail?: [names], pause?: 'before-decide' |
//                        'after-decide' | 'gate-after-decide' }. A paused transaction prints
//                        { t: 'paused', txId, at: point } and waits: forever (the test SIGKILLs the
//                        process), or with 'gate-after-decide' until the line 'go' on stdin.
//                        A transaction already in the log is skipped (recovery finishes it).
//   FAULT_RECOVER        '1': recover() in a loop (every 100 ms) until the log has nothing unfinished
//                        and every transaction of FAULT_TXS is done, then print { t: 'done' } and exit 0
//   FAULT_PREPARE_MS, FAULT_LEASE_MS, FAULT_CALL_MS   coordinator timeouts (defaults 1000, 1500, 500)
//   FAULT_PARTICIPANT_MS 'min:max' random sleep of the local participants before each call (default 0:0)
//
// Output: JSON lines { t: 'ready' | 'begin' | 'result' | 'paused' | 'recovered' | 'log' | 'done' | 'error', … }.
// The end of stdin (the test runner died) exits at once.
'use strict';
const { Pool } = require('pg');
const {
  TwoPhaseConflictError,
  TwoPhaseCoordinator,
  TwoPhaseMessageClient,
  serveTwoPhaseOutcomes,
} = require('potter');
const { SqlCoordinatorLog, PgSqlClient } = require('potter/postgres');
const { PgParticipant } = require('./pg-participant');

const env = process.env;
const schema = env.FAULT_SCHEMA;
const owner = env.FAULT_OWNER;
const list = (text) => (text ? text.split(',').filter((s) => s !== '') : []);
const local = list(env.FAULT_LOCAL);
const remote = list(env.FAULT_REMOTE);
const txs = JSON.parse(env.FAULT_TXS ?? '[]');
const concurrency = Number(env.FAULT_CONCURRENCY ?? 1);
const recoverLoop = env.FAULT_RECOVER === '1';

function out(record) {
  process.stdout.write(`${JSON.stringify({ ...record, owner, at: Date.now() })}\n`);
}

const logger = {
  debug() {},
  info() {},
  warn: (message, fields) => out({ t: 'log', level: 'warn', message, fields }),
  error: (message, fields) => out({ t: 'log', level: 'error', message, fields }),
  child() {
    return logger;
  },
};

const never = new Promise(() => undefined);
let gate;
const opened = new Promise((resolve) => (gate = resolve));

/** The log, with the pauses of FAULT_TXS around `decide`. */
function pausingLog(log) {
  const pauses = new Map(txs.filter((tx) => tx.pause).map((tx) => [tx.txId, tx.pause]));
  return new Proxy(log, {
    get(target, property) {
      if (property !== 'decide') {
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (txId, decision) => {
        const pause = pauses.get(txId);
        if (pause === 'before-decide') {
          out({ t: 'paused', txId, point: pause, wanted: decision });
          return never;
        }
        const decided = await target.decide(txId, decision);
        if (pause === 'after-decide') {
          out({ t: 'paused', txId, point: pause, decided });
          return never;
        }
        if (pause === 'gate-after-decide') {
          out({ t: 'paused', txId, point: pause, decided });
          await opened;
        }
        return decided;
      };
    },
  });
}

async function main() {
  const pool = new Pool({ connectionString: env.POTTER_POSTGRES_URL, max: 10 });
  pool.on('error', () => undefined);
  const sqlLog = new SqlCoordinatorLog(new PgSqlClient({ pool }), { schema });
  const log = pausingLog(sqlLog);
  const [min, max] = (env.FAULT_PARTICIPANT_MS ?? '0:0').split(':').map(Number);
  const participants = local.map((name) => new PgParticipant(pool, schema, name, { delayMs: { min, max } }));
  let client;
  let bus;
  if (remote.length > 0) {
    const { RedisMessageBus } = require('potter/redis');
    bus = new RedisMessageBus({ url: env.POTTER_REDIS_URL, blockMs: 200 });
    const prefix = env.FAULT_TOPIC_PREFIX;
    client = new TwoPhaseMessageClient({
      bus,
      replyTopic: `${prefix}.replies`,
      replyGroup: `replies-${owner}`,
      outcomeTopic: `${prefix}.outcomes`,
      timeoutMs: Number(env.FAULT_CALL_MS ?? 500),
    });
    await client.start();
    for (const name of remote) participants.push(client.participant(name, { topic: `${prefix}.${name}` }));
  }
  const coordinator = new TwoPhaseCoordinator({
    log,
    participants,
    owner,
    prepareTimeoutMs: Number(env.FAULT_PREPARE_MS ?? 1000),
    leaseMs: Number(env.FAULT_LEASE_MS ?? 1500),
    callTimeoutMs: Number(env.FAULT_CALL_MS ?? 500),
    retry: { initialDelayMs: 20, maxDelayMs: 200 },
    logger,
  });
  // In-doubt participants may ask this coordinator for outcomes.
  if (bus) await serveTwoPhaseOutcomes(bus, coordinator, { topic: `${env.FAULT_TOPIC_PREFIX}.outcomes` });
  out({ t: 'ready', pid: process.pid });

  const queue = txs.slice();
  const run = async () => {
    for (let tx = queue.shift(); tx !== undefined; tx = queue.shift()) {
      if ((await sqlLog.get(tx.txId)) !== undefined) {
        out({ t: 'skipped', txId: tx.txId });
        continue;
      }
      out({ t: 'begin', txId: tx.txId });
      let result;
      try {
        result = await coordinator.execute({ txId: tx.txId, payload: { fail: tx.fail ?? [] } });
      } catch (error) {
        // A previous life's begin that reached the database after our look: recovery finishes it.
        if (error instanceof TwoPhaseConflictError) {
          out({ t: 'skipped', txId: tx.txId, conflict: true });
          continue;
        }
        throw error;
      }
      out({ t: 'result', txId: tx.txId, outcome: result.outcome, votes: result.votes.map((v) => v.vote) });
    }
  };
  const runs = Promise.all(Array.from({ length: concurrency }, run));
  if (!recoverLoop) {
    await runs;
    out({ t: 'done' });
    return;
  }
  let ran = false;
  let failed;
  runs.then(
    () => (ran = true),
    (error) => (failed = error),
  );
  for (;;) {
    const result = await coordinator.recover();
    for (const item of result.recovered) out({ t: 'recovered', ...item });
    if (failed !== undefined) throw failed;
    const unfinished = await sqlLog.unfinished();
    if (ran && unfinished.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await runs;
  out({ t: 'done' });
  coordinator.close();
  await client?.close();
  await bus?.close();
  await pool.end();
}

process.stdin.on('data', (chunk) => {
  if (chunk.toString().includes('go')) gate();
});
process.stdin.on('end', () => process.exit(1));
process.stdin.resume();

main().then(
  () => process.exit(0),
  (error) => {
    out({ t: 'error', message: String(error && error.stack ? error.stack : error) });
    process.exit(2);
  },
);
