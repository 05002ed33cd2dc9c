// One application instance running sagas on PostgreSQL, started as a real process by the saga
// fault tests (test/fault/saga-*.fault.spec.ts). It runs the compiled package (dist/, through the
// package's self-reference), so `npm run build` must have run first.
//
// The saga `fault-order` has four steps: reserve, then the parallel group payment (charge ‖
// notify), then ship. Every execute and compensate goes to an idempotent test participant: the
// effect is `INSERT … ON CONFLICT (key) DO NOTHING` into fault_effects keyed by the step's
// idempotency key (its `seq` records the order of effects), and every attempt is also written,
// without deduplication, to fault_attempts ('begin' before the work; then 'applied', 'duplicate'
// (the key had its effect already: a re-run), 'refused', 'transient' or 'aborted'). Both tables
// are created by the test. What a saga does is decided by its input, deterministically:
//   fail: 'ship' | 'charge' | undefined  the step that fails for good (not retried: compensation)
//   transientCharge                       charge's attempt 1 fails (retried)
//   transientCompensation                 the compensation of reserve fails at its attempt 1 (retried)
// Each attempt sleeps a random while before and after its effect (so a SIGKILL lands anywhere);
// compensations are slower than steps (so kills land during compensation too).
//
// Configuration (environment):
//   POTTER_POSTGRES_URL  the database
//   FAULT_SCHEMA         schema of the sagas table (migrated) and of the participant tables
//   FAULT_INSTANCE       the orchestrator's instance id
//   FAULT_LEASE_MS       lease of a saga (default 1500); claims run every FAULT_RESUME_MS (default 200)
//   FAULT_START          'from:to': start the sagas saga-<from> … saga-<to - 1> (input from the index)
//                        that do not exist yet
//   FAULT_STEP_MS        'min:max' sleep of a step attempt (default 50:300)
//   FAULT_COMPENSATE_MS  'min:max' sleep of a compensation attempt (default 300:800)
//
// Output: one JSON object per line on stdout ({ t: 'ready' | 'started' | 'start-failed' | 'log' |
// 'stopped' | 'crashed', … }). SIGTERM stops the orchestrator gracefully; the end of stdin (the test runner
// died) exits at once.
'use strict';
const { setTimeout: sleep } = require('node:timers/promises');
const { SagaConflictError, SagaOrchestrator, defineSaga } = require('potter');
const { PgSqlClient, SqlEventStore, SqlSagaStore } = require('potter/postgres');

const env = process.env;
const schema = required('FAULT_SCHEMA');
const instance = required('FAULT_INSTANCE');
const leaseMs = Number(env.FAULT_LEASE_MS ?? 1500);
const resumeIntervalMs = Number(env.FAULT_RESUME_MS ?? 200);
const stepMs = range(env.FAULT_STEP_MS ?? '50:300');
const compensateMs = range(env.FAULT_COMPENSATE_MS ?? '300:800');

function required(name) {
  const value = env[name];
  if (!value) throw new Error(`saga-worker: ${name} is not set`);
  return value;
}

function range(text) {
  const [min, max] = text.split(':').map(Number);
  return { min, max };
}

function out(record) {
  process.stdout.write(`${JSON.stringify({ ...record, instance, at: Date.now() })}\n`);
}

const table = (name) => `"${schema}".${name}`;
const between = ({ min, max }) => min + Math.random() * (max - min);

/** What saga number `i` does (the test computes the same). */
function inputOf(i) {
  const fail = i % 10 === 0 || i % 10 === 3 || i % 10 === 6 ? 'ship' : i % 10 === 9 ? 'charge' : undefined;
  return {
    i,
    ...(fail === undefined ? {} : { fail }),
    transientCharge: i % 4 === 1,
    transientCompensation: i % 5 === 2,
  };
}

class Declined extends Error {
  constructor(message) {
    super(message);
    this.name = 'Declined';
  }
}

class Transient extends Error {
  constructor(message) {
    super(message);
    this.name = 'Transient';
  }
}

const client = new PgSqlClient({
  connectionString: required('POTTER_POSTGRES_URL'),
  poolConfig: { max: 8 },
});

function log(args, kind, phase) {
  return client.query(
    `INSERT INTO ${table('fault_attempts')} (key, kind, saga_id, step, attempt, instance, phase)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [args.idempotencyKey, kind, args.sagaId, args.step, args.attempt, instance, phase],
  );
}

/**
 * The idempotent participant: records the attempt, works a while (aborted with the step's signal),
 * then applies the effect once per idempotency key, the effect and its log line in one statement.
 */
async function participate(args, kind, fails) {
  await log(args, kind, 'begin');
  try {
    await sleep(between(kind === 'execute' ? stepMs : compensateMs) * 0.8, undefined, {
      signal: args.signal,
    });
    args.signal.throwIfAborted();
  } catch (error) {
    await log(args, kind, 'aborted').catch(() => undefined);
    throw error;
  }
  const failure = fails?.(args);
  if (failure !== undefined) {
    await log(args, kind, failure.name === 'Declined' ? 'refused' : 'transient');
    throw failure;
  }
  await client.query(
    `WITH effect AS (
       INSERT INTO ${table('fault_effects')} (key, kind, saga_id, step, attempt, instance)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (key) DO NOTHING
       RETURNING 1
     )
     INSERT INTO ${table('fault_attempts')} (key, kind, saga_id, step, attempt, instance, phase)
     SELECT $1, $2, $3, $4, $5, $6, CASE WHEN EXISTS (SELECT FROM effect) THEN 'applied' ELSE 'duplicate' END`,
    [args.idempotencyKey, kind, args.sagaId, args.step, args.attempt, instance],
  );
  await sleep(between(kind === 'execute' ? stepMs : compensateMs) * 0.2, undefined, { signal: args.signal });
}

function step(fails, compensationFails) {
  return {
    execute: (args) => participate(args, 'execute', fails),
    compensate: (args) => participate(args, 'compensate', compensationFails),
  };
}

const definition = defineSaga('fault-order')
  .step(
    'reserve',
    step(undefined, ({ context, attempt }) =>
      context.transientCompensation && attempt === 1 ? new Transient('reserve: undo later') : undefined,
    ),
  )
  .parallel('payment', [
    {
      name: 'charge',
      ...step(({ context, attempt }) => {
        if (context.transientCharge && attempt === 1) return new Transient('charge: try again');
        if (context.fail === 'charge') return new Declined('charge: declined');
        return undefined;
      }),
      retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 },
      retryable: (error) => !(error instanceof Declined),
    },
    { name: 'notify', ...step() },
  ])
  .step(
    'ship',
    step(({ context }) => (context.fail === 'ship' ? new Declined('ship: no stock') : undefined)),
  )
  .compensationRetry({ maxAttempts: 5, initialDelayMs: 50, maxDelayMs: 200 })
  .build();

const logger = Object.fromEntries(
  ['debug', 'info', 'warn', 'error'].map((level) => [
    level,
    (message, fields) => {
      if (level === 'debug' || level === 'info') return;
      const error = fields && fields.error;
      out({
        t: 'log',
        level,
        message,
        fields: {
          ...fields,
          ...(error ? { error: String(error && error.stack ? error.stack : error) } : {}),
        },
      });
    },
  ]),
);

(async () => {
  const orchestrator = new SagaOrchestrator({
    // Records each write's saga events in the same transaction (the read model is checked against them).
    store: SqlSagaStore.for(new SqlEventStore(client, { schema, notify: false })),
    instanceId: instance,
    leaseMs,
    resumeIntervalMs,
    logger,
  });
  orchestrator.register(definition);
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await orchestrator.stop();
      await client.close();
      out({ t: 'stopped' });
      process.exit(0);
    })();
  });
  process.stdin.on('end', () => process.exit(1));
  process.stdin.resume();
  await orchestrator.resume();
  out({ t: 'ready' });
  if (env.FAULT_START) {
    const [from, to] = env.FAULT_START.split(':').map(Number);
    const ids = [];
    for (let i = from; i < to; i++) ids.push(i);
    // A few at a time, so that the first sagas run while the last ones start. A saga that exists
    // already (started by a previous instance: this is the client retrying its requests) is left
    // to the orchestrators.
    let created = 0;
    let existing = 0;
    const startOne = async (i) => {
      try {
        await orchestrator.start(definition, inputOf(i), { sagaId: `saga-${String(i).padStart(4, '0')}` });
        created++;
      } catch (error) {
        if (error instanceof SagaConflictError) existing++;
        // Reported (the test fails on it); the next instance starts it again if it was not created.
        else out({ t: 'start-failed', i, error: String(error && error.stack ? error.stack : error) });
      }
    };
    for (let k = 0; k < ids.length; k += 10) await Promise.all(ids.slice(k, k + 10).map(startOne));
    out({ t: 'started', created, existing });
  }
})().catch((error) => {
  out({ t: 'crashed', error: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
