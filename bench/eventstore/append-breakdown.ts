/**
 * Diagnostic, not part of the recorded benchmark: where does the time of a Potter append go,
 * compared with the raw INSERT of `eventstore.bench.ts`? One process, one `pg.Pool`, variants run
 * in interleaved rounds on the same workload (sequential single-event appends by default):
 *
 * - `raw`            the baseline's unnamed INSERT into its simple table
 * - `raw-named`      the same INSERT as a named (prepared) statement
 * - `raw-potter-table` the same named INSERT into a table shaped like Potter's `events`
 *                    (bigserial `seq`, `xid8` transaction id, position index, `streams` untouched)
 * - `sql`            Potter's append statement, captured from the store, sent directly by `pg`
 *                    with the parameters Potter would send (no Potter JavaScript)
 * - `sql-no-lock`    the same statement without its advisory-lock CTE
 * - `sql-insert-only` only its INSERT … SELECT FROM jsonb_array_elements (no lock, no streams row)
 * - `sql-json`, `sql-unnest`, `sql-values` the statement taking the events as `json`, as parallel
 *                    arrays, or (single events only) as scalar parameters
 * - `potter`         `appendToStream` of a default store (`notify: true`)
 * - `potter-own-pool` the same, the store creating its pool from a connection string
 * - `potter-no-notify` `appendToStream` of a store created with `notify: false`
 *
 * It also counts the queries each `appendToStream` sends (by wrapping the pool).
 *
 *   node build/bench/eventstore/append-breakdown.js            # single-event appends, 1 writer
 *   DIAG_BATCH=10 DIAG_WRITERS=8 DIAG_CALLS=375 node build/bench/eventstore/append-breakdown.js
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client, Pool, type QueryConfig } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { NewEvent } from 'potter';
import { createPostgresEventStore } from 'potter/postgres';
import { dropSchema, lockBenchRun, resetSchema } from './worker-runtime';
import { envelopeMetadata, makeEvent, type BenchEvent } from './workload';

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const CONNECTION_STRING =
  process.env['POTTER_POSTGRES_URL'] || 'postgres://potter:potter@127.0.0.1:5432/potter';
const SCHEMA = 'bench_diag';
/** application_name of the diagnostic's pools, to find their server processes. */
const APP = 'potter_bench_diag';
const ROUNDS = intFromEnv('DIAG_ROUNDS', 5);
const WRITERS = intFromEnv('DIAG_WRITERS', 1);
const CALLS = intFromEnv('DIAG_CALLS', 3000);
const BATCH = intFromEnv('DIAG_BATCH', 1);
const STREAMS = intFromEnv('DIAG_STREAMS', 100);
/** Comma-separated variant ids to run (`raw` always runs: it is the reference). */
const ONLY = new Set((process.env['DIAG_ONLY'] ?? '').split(',').filter((id) => id !== ''));

/** Appends `events` to a stream at `version`, returns the new version. */
type Append = (streamId: string, events: readonly BenchEvent[], version: number) => Promise<number>;

type Query = (config: QueryConfig | string, values?: unknown[]) => Promise<unknown>;

interface Captured {
  text: string;
  name: string | undefined;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Potter's `PreparedEvent` array, as `SqlEventStore` encodes it into its `$4` parameter. */
function potterEventsJson(events: readonly BenchEvent[], timestamp: string): string {
  return JSON.stringify(
    events.map((event) => ({
      id: uuidv7(),
      type: event.type,
      schemaVersion: 1,
      payload: event.payload,
      metadata: envelopeMetadata(event, timestamp),
    })),
  );
}

async function main(): Promise<void> {
  const lock = new Client({ connectionString: CONNECTION_STRING });
  await lock.connect();
  try {
    await lockBenchRun(lock);
    await diagnose();
  } finally {
    await lock.end();
  }
}

async function diagnose(): Promise<void> {
  await resetSchema(CONNECTION_STRING, SCHEMA);
  const pool = new Pool({ connectionString: CONNECTION_STRING, application_name: APP });

  // Count and capture what the stores send (each store on its own pool: two stores of one schema
  // with different `notify` options use the same prepared-statement names for different texts).
  let queries = 0;
  let connects = 0;
  const captured: Captured[] = [];
  const instrument = (target: Pool): Query => {
    const original = target.query.bind(target) as Query;
    (target as unknown as { query: Query }).query = (config, values) => {
      queries++;
      if (typeof config === 'object') captured.push({ text: config.text, name: config.name });
      return original(config, values);
    };
    // pool.query itself calls pool.connect(callback): count only the transactions' own checkouts.
    const connect = target.connect.bind(target) as (...args: unknown[]) => unknown;
    (target as unknown as { connect: typeof connect }).connect = (...args) => {
      if (args.length === 0) connects++;
      return connect(...args);
    };
    return original;
  };
  const query = instrument(pool);
  const quietPool = new Pool({ connectionString: CONNECTION_STRING, application_name: APP });
  instrument(quietPool);

  const potter = await createPostgresEventStore({ pool, schema: SCHEMA });
  const quiet = await createPostgresEventStore({
    pool: quietPool,
    schema: SCHEMA,
    notify: false,
    migrate: false,
  });
  const ownPool = await createPostgresEventStore({
    connectionString: CONNECTION_STRING,
    poolConfig: { application_name: APP },
    schema: SCHEMA,
    migrate: false,
  });
  const toNewEvents = (events: readonly BenchEvent[]): NewEvent[] =>
    events.map((event) => ({
      type: event.type,
      payload: event.payload,
      metadata: { correlationId: event.correlationId, causationId: event.causationId },
    }));

  // Round trips of one append (new stream, then existing stream), and the statements they send.
  const probe = async (store: typeof potter, label: string): Promise<Captured[]> => {
    const events = [makeEvent(0, 'c')];
    const before = { queries, connects, captured: captured.length };
    const first = await store.appendToStream(`${label}-probe`, toNewEvents(events), { expectedVersion: 0 });
    const second = await store.appendToStream(`${label}-probe`, toNewEvents(events), {
      expectedVersion: first.nextExpectedVersion,
    });
    if (second.nextExpectedVersion !== 2)
      throw new Error(`${label}: probe ended at ${second.nextExpectedVersion}`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // let deferred queries (NOTIFY) go out
    const sent = captured.slice(before.captured);
    process.stdout.write(
      `${label}: 2 appends sent ${queries - before.queries} pool.query calls (${sent.map((c) => c.name ?? c.text.slice(0, 40)).join(', ')}) and ${connects - before.connects} pool.connect calls\n`,
    );
    return sent;
  };
  const statements = [...(await probe(potter, 'potter')), ...(await probe(quiet, 'potter-no-notify'))];
  const find = (suffix: string): Captured => {
    const found = statements.find((c) => c.name?.endsWith(suffix));
    if (!found) throw new Error(`no statement named …${suffix} captured`);
    return found;
  };
  const mayCreate = find('_append_may_create');
  const existing = find('_append_existing');
  process.stdout.write(`\nappend to an existing stream:\n${existing.text}\n\n`);

  const withoutLock = (text: string): string => {
    const out = text
      .replace(/lock AS MATERIALIZED \(SELECT pg_advisory_xact_lock\([^;]*?\)\)\),\s*/, '')
      .replace(/FROM lock\b/, '');
    if (out === text || out.includes('pg_advisory')) throw new Error('could not remove the lock CTE');
    return out;
  };

  const insertOnly = `WITH written AS (
      INSERT INTO "${SCHEMA}".events
        (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata, recorded_at)
      SELECT e.doc->>'id', $1::text, $3::int + e.n::int, e.doc->>'type',
        (e.doc->>'schemaVersion')::int, e.doc->'payload', e.doc->'metadata', $5::timestamptz
      FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(doc, n)
      ORDER BY e.n
      RETURNING seq
    )
    SELECT $3::int + $2::int AS version, pg_current_xact_id()::text AS transaction_id,
      (SELECT max(seq) FROM written)::text AS last_seq`;
  /** Potter's statement reading `$4` as `json` (parsed lazily) instead of `jsonb`. */
  const asJson = (text: string): string => {
    const out = text
      .replace('jsonb_array_elements($4::jsonb)', 'json_array_elements($4::json)')
      .replace(
        "e.doc->'payload', e.doc->'metadata'",
        "(e.doc->'payload')::jsonb, (e.doc->'metadata')::jsonb",
      );
    if (out.includes('jsonb_array_elements') || !out.includes('::jsonb, ('))
      throw new Error('asJson: no match');
    return out;
  };
  /** Potter's statement with the events as parallel arrays ($4 ids, $6 types, $7 schema versions, $8 payloads, $9 metadata). */
  const asUnnest = (text: string): string => {
    const out = text
      .replace(
        "SELECT e.doc->>'id', $1::text, stream.version - $2::int + e.n::int, e.doc->>'type',\n        (e.doc->>'schemaVersion')::int, e.doc->'payload', e.doc->'metadata', $5::timestamptz",
        'SELECT e.id, $1::text, stream.version - $2::int + e.n::int, e.type, e.sv, e.payload, e.metadata, $5::timestamptz',
      )
      .replace(
        'jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(doc, n)',
        'unnest($4::text[], $6::text[], $7::int[], $8::jsonb[], $9::jsonb[]) WITH ORDINALITY AS e(id, type, sv, payload, metadata, n)',
      );
    if (out.includes('e.doc') || !out.includes('unnest(')) throw new Error('asUnnest: no match');
    return out;
  };
  /** Potter's statement for one event given as scalars ($4 id, $6 type, $7 schema version, $8 payload, $9 metadata). */
  const asValues = (text: string): string => {
    const out = text
      .replace(
        "SELECT e.doc->>'id', $1::text, stream.version - $2::int + e.n::int, e.doc->>'type',\n        (e.doc->>'schemaVersion')::int, e.doc->'payload', e.doc->'metadata', $5::timestamptz",
        'SELECT $4::text, $1::text, stream.version, $6::text, $7::int, $8::jsonb, $9::jsonb, $5::timestamptz',
      )
      .replace(
        /FROM stream, jsonb_array_elements\(\$4::jsonb\) WITH ORDINALITY AS e\(doc, n\)\s*ORDER BY e\.n/,
        'FROM stream',
      );
    if (out.includes('e.doc') || out.includes('jsonb_array_elements')) throw new Error('asValues: no match');
    return out;
  };
  const rawTable = `"${SCHEMA}".raw_events`;
  const likeTable = `"${SCHEMA}".raw_potter_like`;
  await pool.query(`CREATE TABLE ${rawTable} (
    id text PRIMARY KEY, stream_id text NOT NULL, stream_version integer NOT NULL, type text NOT NULL,
    payload jsonb NOT NULL, metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version))`);
  await pool.query(`CREATE TABLE ${likeTable} (
    seq bigserial NOT NULL, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id text PRIMARY KEY, stream_id text NOT NULL, stream_version integer NOT NULL,
    event_type text NOT NULL, schema_version integer NOT NULL, payload jsonb NOT NULL,
    metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL, UNIQUE (stream_id, stream_version))`);
  await pool.query(`CREATE INDEX ON ${likeTable} (transaction_id, seq)`);

  const rowsInsert = (table: string, columns: string, width: number, rows: number): string => {
    const values: string[] = [];
    for (let r = 0; r < rows; r++)
      values.push(`(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`);
    return `INSERT INTO ${table} (${columns}) VALUES ${values.join(', ')}`;
  };
  const rawText = rowsInsert(rawTable, 'id, stream_id, stream_version, type, payload, metadata', 6, BATCH);
  const likeText = rowsInsert(
    likeTable,
    'event_id, stream_id, stream_version, event_type, schema_version, payload, metadata, recorded_at',
    8,
    BATCH,
  );
  const rawParams = (streamId: string, events: readonly BenchEvent[], version: number): unknown[] => {
    const timestamp = new Date().toISOString();
    return events.flatMap((event, i) => [
      uuidv7(),
      streamId,
      version + i + 1,
      event.type,
      JSON.stringify(event.payload),
      JSON.stringify(envelopeMetadata(event, timestamp)),
    ]);
  };
  const direct =
    (name: string, create: string, exists: string): Append =>
    async (streamId, events, version) => {
      const now = new Date();
      const text = version === 0 ? create : exists;
      const { rows } = await query(
        {
          name: `${name}_${version === 0 ? 'create' : 'exists'}`,
          text,
          values: [streamId, events.length, version, potterEventsJson(events, now.toISOString()), now],
        },
        undefined,
      ).then((r) => r as { rows: { version: number }[] });
      return rows[0]!.version;
    };

  const variants: [string, Append][] = [
    [
      'raw',
      async (streamId, events, version) => {
        await query({ text: rawText, values: rawParams(streamId, events, version) });
        return version + events.length;
      },
    ],
    [
      'raw-named',
      async (streamId, events, version) => {
        await query({ name: 'diag_raw', text: rawText, values: rawParams(streamId, events, version) });
        return version + events.length;
      },
    ],
    [
      'raw-potter-table',
      async (streamId, events, version) => {
        const now = new Date();
        const timestamp = now.toISOString();
        const values = events.flatMap((event, i) => [
          uuidv7(),
          streamId,
          version + i + 1,
          event.type,
          1,
          JSON.stringify(event.payload),
          JSON.stringify(envelopeMetadata(event, timestamp)),
          now,
        ]);
        await query({ name: 'diag_like', text: likeText, values });
        return version + events.length;
      },
    ],
    ['sql', direct('diag_sql', mayCreate.text, existing.text)],
    ['sql-no-lock', direct('diag_nolock', withoutLock(mayCreate.text), withoutLock(existing.text))],
    [
      // Potter's INSERT … SELECT FROM jsonb_array_elements alone: no lock, no streams row, no notify.
      'sql-insert-only',
      direct('diag_insert_only', insertOnly, insertOnly),
    ],
    ['sql-json', direct('diag_json', asJson(mayCreate.text), asJson(existing.text))],
    [
      'sql-unnest',
      async (streamId, events, version) => {
        const now = new Date();
        const timestamp = now.toISOString();
        const { rows } = (await query({
          name: `diag_unnest_${version === 0 ? 'create' : 'exists'}`,
          text: asUnnest(version === 0 ? mayCreate.text : existing.text),
          values: [
            streamId,
            events.length,
            version,
            events.map(() => uuidv7()),
            now,
            events.map((event) => event.type),
            events.map(() => 1),
            events.map((event) => JSON.stringify(event.payload)),
            events.map((event) => JSON.stringify(envelopeMetadata(event, timestamp))),
          ],
        })) as { rows: { version: number }[] };
        return rows[0]!.version;
      },
    ],
    ...(BATCH === 1
      ? ([
          [
            // Single-event fast path: the same statement with the event's columns as scalar parameters.
            'sql-values',
            async (streamId, events, version) => {
              const now = new Date();
              const event = events[0]!;
              const { rows } = (await query({
                name: `diag_values_${version === 0 ? 'create' : 'exists'}`,
                text: asValues(version === 0 ? mayCreate.text : existing.text),
                values: [
                  streamId,
                  1,
                  version,
                  uuidv7(),
                  now,
                  event.type,
                  1,
                  JSON.stringify(event.payload),
                  JSON.stringify(envelopeMetadata(event, now.toISOString())),
                ],
              })) as { rows: { version: number }[] };
              return rows[0]!.version;
            },
          ],
        ] satisfies [string, Append][])
      : []),
    [
      'potter',
      async (streamId, events, version) =>
        (await potter.appendToStream(streamId, toNewEvents(events), { expectedVersion: version }))
          .nextExpectedVersion,
    ],
    [
      'potter-own-pool',
      async (streamId, events, version) =>
        (await ownPool.appendToStream(streamId, toNewEvents(events), { expectedVersion: version }))
          .nextExpectedVersion,
    ],
    [
      'potter-no-notify',
      async (streamId, events, version) =>
        (await quiet.appendToStream(streamId, toNewEvents(events), { expectedVersion: version }))
          .nextExpectedVersion,
    ],
  ];

  const plan = (prefix: string, calls: number): { streamId: string; events: BenchEvent[] }[][] =>
    Array.from({ length: WRITERS }, (_, w) =>
      Array.from({ length: calls }, (_, i) => ({
        streamId: `${prefix}-w${w}-s${i % STREAMS}`,
        events: ((correlationId) =>
          Array.from({ length: BATCH }, (_, e) => makeEvent(i * BATCH + e, correlationId)))(randomUUID()),
      })),
    );
  // CPU time of this process and of the PostgreSQL backends serving the diagnostic's pools
  // (application_name = APP, read from /proc: the server runs on this machine).
  const admin = new Client({ connectionString: CONNECTION_STRING });
  await admin.connect();
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const backendCpuUs = async (): Promise<Map<number, number>> => {
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [APP],
    );
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        cpu.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticks);
      } catch {
        // the backend ended meanwhile
      }
    }
    return cpu;
  };

  interface Sample {
    rate: number;
    nodeUsPerCall: number;
    pgUsPerCall: number;
  }
  const run = async (append: Append, prefix: string, calls: number): Promise<Sample> => {
    const writers = plan(prefix, calls);
    const versions = new Map<string, number>();
    const pgBefore = await backendCpuUs();
    const nodeBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      writers.map(async (list) => {
        for (const call of list) {
          const version = versions.get(call.streamId) ?? 0;
          const next = await append(call.streamId, call.events, version);
          if (next !== version + call.events.length)
            throw new Error(
              `${prefix}: ${call.streamId} at ${next}, expected ${version + call.events.length}`,
            );
          versions.set(call.streamId, next);
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    const node = process.cpuUsage(nodeBefore);
    const pgAfter = await backendCpuUs();
    let pgUs = 0;
    for (const [pid, after] of pgAfter) pgUs += after - (pgBefore.get(pid) ?? 0);
    const total = WRITERS * calls;
    return {
      rate: (total * BATCH * 1000) / elapsedMs,
      nodeUsPerCall: (node.user + node.system) / total,
      pgUsPerCall: pgUs / total,
    };
  };

  if (ONLY.size > 0) {
    const kept = variants.filter(([id]) => ONLY.has(id) || id === 'raw');
    variants.splice(0, variants.length, ...kept);
  }
  const results = new Map<string, Sample[]>(variants.map(([id]) => [id, []]));
  for (let round = -1; round < ROUNDS; round++) {
    const offset = (round + 1) % variants.length;
    for (const [id, append] of [...variants.slice(offset), ...variants.slice(0, offset)]) {
      const calls = round < 0 ? Math.max(STREAMS, Math.ceil(CALLS / 10)) : CALLS;
      const sample = await run(append, `${id}-r${round}`, calls);
      if (round >= 0) results.get(id)!.push(sample);
    }
    if (round >= 0) process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
  await admin.end();

  const raw = median(results.get('raw')!.map((s) => s.rate));
  process.stdout.write(
    `${WRITERS} writer(s) × ${CALLS} calls × ${BATCH} event(s), ${STREAMS} streams per writer, median of ${ROUNDS} rounds\n\n` +
      '| variant | events/s | vs raw | wall µs per call (all writers) | node CPU µs per call | PostgreSQL backend CPU µs per call |\n' +
      '| --- | ---: | ---: | ---: | ---: | ---: |\n',
  );
  for (const [id, samples] of results) {
    const rate = median(samples.map((s) => s.rate));
    process.stdout.write(
      `| ${id} | ${Math.round(rate).toLocaleString('en-US')} | ${(rate / raw).toFixed(2)}× | ${((1e6 * BATCH) / rate).toFixed(0)} | ${median(samples.map((s) => s.nodeUsPerCall)).toFixed(0)} | ${median(samples.map((s) => s.pgUsPerCall)).toFixed(0)} |\n`,
    );
  }
  await quiet.close();
  await ownPool.close();
  await potter.close();
  await pool.end();
  await quietPool.end();
  await dropSchema(CONNECTION_STRING, SCHEMA);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
