// One application instance running an additive projection, started as a real process by the
// fault tests (test/fault/projections). It runs the compiled package (dist/, through the package's
// self-reference), so `npm run build` must have run first.
//
// Configuration (environment):
//   POTTER_POSTGRES_URL  the database
//   FAULT_SCHEMA         schema of the event store, projection store and read models
//   FAULT_INSTANCE       the instance id (lease owner)
//   FAULT_MODEL          'sql': hand-written tables through ctx.transaction (fault_accounts,
//                        fault_totals, fault_applied; created by the test) — 'docs': documents
//                        through ctx.readModel() (generation-aware: blue/green rebuilds)
//   FAULT_LEASE_TTL_MS   lease ttl (default 1000)
//   FAULT_BATCH_SIZE     projection batch size (default 200)
//   FAULT_STALL_MS       if set, each batch transaction sleeps this long in its first event…
//   FAULT_STALL_AT       …'begin' (before any write: the transaction holds no row lock) or
//                        'write' (after the first event's writes: it holds their row locks)
//
// Output: one JSON object per line on stdout ({ t: 'ready' | 'acquired' | 'handling' | 'stall' |
// 'fenced' | 'log' | 'stopped', … }). SIGTERM stops the engine gracefully; the end of stdin (the
// test runner died) exits at once.
'use strict';
const { Event, EventHandler, Projection, ProjectionEngine } = require('potter');
const { createPostgresEventStore, SqlProjectionStore, SqlReadModelStore } = require('potter/postgres');

const env = process.env;
const schema = required('FAULT_SCHEMA');
const instance = required('FAULT_INSTANCE');
const model = env.FAULT_MODEL ?? 'sql';
const leaseTtlMs = Number(env.FAULT_LEASE_TTL_MS ?? 1000);
const batchSize = Number(env.FAULT_BATCH_SIZE ?? 200);
const stallMs = Number(env.FAULT_STALL_MS ?? 0);
const stallAt = env.FAULT_STALL_AT ?? 'begin';

function required(name) {
  const value = env[name];
  if (!value) throw new Error(`projection-worker: ${name} is not set`);
  return value;
}

function out(record) {
  process.stdout.write(`${JSON.stringify({ ...record, instance, at: Date.now() })}\n`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const table = (name) => `"${schema}".${name}`;

class Deposited {
  constructor(account, amount) {
    this.account = account;
    this.amount = amount;
  }
}
Event('fault.Deposited')(Deposited);

/** The transactions seen (to stall once per batch transaction). */
const seen = new WeakSet();
let handling = false;

async function stall(ctx, at) {
  if (!stallMs || stallAt !== at || !ctx.transaction) return;
  out({ t: 'stall', at, streamId: ctx.event.streamId, version: ctx.event.streamVersion });
  await sleep(stallMs);
}

/**
 * Additive: per account the sum of amounts, the count, the highest stream version and the number of
 * events applied out of sequence (`gaps`); globally the count and sum. A lost or double-applied event
 * shows in every one of them.
 */
class FaultSums {
  async onDeposited(event, ctx) {
    if (!handling) {
      handling = true;
      out({ t: 'handling', position: ctx.event.position });
    }
    const first = ctx.transaction !== undefined && !seen.has(ctx.transaction);
    if (first) {
      seen.add(ctx.transaction);
      await stall(ctx, 'begin');
    }
    const version = ctx.event.streamVersion;
    if (model === 'sql') {
      await ctx.transaction.query(
        `WITH acc AS (
           INSERT INTO ${table('fault_accounts')} AS a (account, total, count, max_version, gaps)
           VALUES ($1, $2, 1, $3, CASE WHEN $3 = 1 THEN 0 ELSE 1 END)
           ON CONFLICT (account) DO UPDATE SET
             total = a.total + EXCLUDED.total,
             count = a.count + 1,
             max_version = greatest(a.max_version, EXCLUDED.max_version),
             gaps = a.gaps + CASE WHEN EXCLUDED.max_version = a.count + 1 THEN 0 ELSE 1 END
           RETURNING 1
         ), tot AS (
           UPDATE ${table('fault_totals')} SET events = events + 1, amount = amount + $2 WHERE id = 1 RETURNING 1
         )
         INSERT INTO ${table('fault_applied')} AS p (instance, events) VALUES ($4, 1)
         ON CONFLICT (instance) DO UPDATE SET events = p.events + 1`,
        [event.account, event.amount, version, instance],
        { name: 'fault-apply' },
      );
    } else {
      await ctx.readModel('fault_accounts').update(event.account, (doc) => ({
        account: event.account,
        total: (doc?.total ?? 0) + event.amount,
        count: (doc?.count ?? 0) + 1,
        maxVersion: Math.max(doc?.maxVersion ?? 0, version),
        gaps: (doc?.gaps ?? 0) + (version === (doc?.count ?? 0) + 1 ? 0 : 1),
      }));
      await ctx.readModel('fault_totals').update('all', (doc) => ({
        events: (doc?.events ?? 0) + 1,
        amount: (doc?.amount ?? 0) + event.amount,
      }));
    }
    if (first) await stall(ctx, 'write');
  }
}
Projection('fault-sums', { batchSize, retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 100 } })(
  FaultSums,
);
EventHandler(Deposited)(FaultSums.prototype, 'onDeposited');

const logger = Object.fromEntries(
  ['debug', 'info', 'warn', 'error'].map((level) => [
    level,
    (message, fields) => {
      if (level !== 'debug') out({ t: 'log', level, message, fields });
    },
  ]),
);

(async () => {
  const eventStore = await createPostgresEventStore({
    connectionString: required('POTTER_POSTGRES_URL'),
    poolConfig: { max: 4 },
    schema,
    migrate: false,
  });
  const store = SqlProjectionStore.for(eventStore);
  // Report the leases taken and the commits refused (a stale owner's, after losing its lease).
  const acquire = store.acquire.bind(store);
  store.acquire = async (...args) => {
    const acquired = await acquire(...args);
    if (acquired) out({ t: 'acquired', token: acquired.lease.token });
    return acquired;
  };
  const commit = store.commit.bind(store);
  store.commit = async (lease, update, tx) => {
    try {
      return await commit(lease, update, tx);
    } catch (error) {
      if (error && error.code === 'POTTER_PROJECTION_FENCED') out({ t: 'fenced', token: lease.token });
      throw error;
    }
  };
  const engine = new ProjectionEngine({
    eventStore,
    store,
    readModels: SqlReadModelStore.for(eventStore),
    instanceId: instance,
    leaseTtlMs,
    pollIntervalMs: 100,
    reportIntervalMs: 0,
    logger,
  });
  engine.register(new FaultSums());
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await engine.stop();
      await eventStore.close();
      out({ t: 'stopped' });
      process.exit(0);
    })();
  });
  process.stdin.on('end', () => process.exit(1));
  process.stdin.resume();
  engine.start();
  out({ t: 'ready' });
})().catch((error) => {
  out({ t: 'crashed', error: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
