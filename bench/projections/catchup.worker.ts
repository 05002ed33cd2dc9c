/**
 * One variant of the catch-up benchmark in its own process (forked by `projections.bench.ts` with
 * the variant id as its argument):
 *
 * - `raw`: the limit — a `pg` `Client` reading the events table in keyset order
 *   (`(transaction_id, seq) > ($1, $2) ORDER BY transaction_id, seq LIMIT batch`, a prepared
 *   statement selecting the columns Potter's `readAll` selects, JSON payloads and metadata decoded
 *   by `pg`), folding each payload into a `Map` of customer summaries.
 * - `memory`: Potter's `ProjectionEngine` over the PostgreSQL event store, with
 *   `MemoryProjectionStore` + `MemoryReadModelStore`; the projection folds each event into its
 *   customer's document with `ctx.readModel().update`.
 * - `sql`: the same projection with `SqlProjectionStore.for(store)` + `SqlReadModelStore.for(store)`:
 *   transactional delivery, read-model writes and checkpoint in one transaction per batch.
 *
 * Every run starts from an empty read model and checkpoint (a new projection name and collection
 * per run), is timed from the start to caught up, and is checked against the expected read model.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import {
  Event,
  EventHandler,
  MemoryProjectionStore,
  MemoryReadModelStore,
  Projection,
  ProjectionEngine,
  type ProjectionContext,
  type ReadModelCollection,
  type ReadModelStore,
} from 'potter';
import { SqlProjectionStore, SqlReadModelStore, createPostgresEventStore } from 'potter/postgres';
import { packageVersion } from '../eventstore/worker-runtime';
import {
  VARIANT_IDS,
  type ParentMessage,
  type RunResult,
  type VariantId,
  type WorkerConfig,
  type WorkerInfo,
  type WorkerMessage,
} from './protocol';
import {
  EVENT_TYPE,
  checkSummaries,
  expectedSummaries,
  fold,
  type CustomerSummary,
  type ItemAddedPayload,
} from './workload';

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * How often `waitUntilCaughtUp` looks at the checkpoint, ms (its default is 100): each look is a
 * `readAll` (and, for the SQL store, a checkpoint read) competing with the catch-up, and a run
 * ends on average half an interval late — 20 ms is ~0.5% of the in-memory catch-up, 100 ms ~0.1%
 * of the SQL one.
 */
const CAUGHT_UP_POLL_MS: Record<'memory' | 'sql', number> = { memory: 20, sql: 100 };

@Event(EVENT_TYPE)
class ItemAdded {
  orderId!: string;
  customerId!: string;
  sku!: string;
  quantity!: number;
  unitPriceCents!: number;
  currency!: string;
  warehouse!: string;
  note!: string;
}

/** Stops a warmup pass after `events` events. */
interface Limit {
  events: number;
  reached(): void;
}

/**
 * A new `@Projection` class (a new name, so an empty checkpoint) folding every event into the
 * customer's summary in `collection`.
 */
function customerSummaries(name: string, collection: string, batchSize: number, limit?: Limit): object {
  let seen = 0;
  @Projection(name, { batchSize })
  class CustomerSummaries {
    @EventHandler(ItemAdded)
    async onItemAdded(event: ItemAdded, ctx: ProjectionContext): Promise<void> {
      await ctx
        .readModel<CustomerSummary>(collection)
        .update(event.customerId, (doc) => fold(doc, event as ItemAddedPayload));
      if (limit && ++seen === limit.events) limit.reached();
    }
  }
  return new CustomerSummaries();
}

/** CPU time of this process and of the server processes of the variant's connections (from /proc). */
class CpuMeter {
  readonly #client: Client;
  readonly #applicationName: string;
  readonly #ticksPerSecond: number;
  #readable = true;

  constructor(connectionString: string, applicationName: string) {
    this.#client = new Client({ connectionString, application_name: `${applicationName}_meter` });
    this.#applicationName = applicationName;
    let ticks = 100;
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // keep the usual 100 Hz
    }
    this.#ticksPerSecond = ticks;
  }

  async connect(): Promise<void> {
    await this.#client.connect();
  }

  async sample(): Promise<{ node: NodeJS.CpuUsage; pg: Map<number, number> | null }> {
    return { pg: await this.#backends(), node: process.cpuUsage() };
  }

  async since(before: { node: NodeJS.CpuUsage; pg: Map<number, number> | null }): Promise<{
    nodeCpuMs: number;
    pgCpuMs: number | null;
  }> {
    const node = process.cpuUsage(before.node);
    const after = await this.#backends();
    let pgCpuMs: number | null = null;
    if (before.pg && after) {
      pgCpuMs = 0;
      for (const [pid, ms] of after) pgCpuMs += ms - (before.pg.get(pid) ?? 0);
    }
    return { nodeCpuMs: (node.user + node.system) / 1000, pgCpuMs };
  }

  close(): Promise<void> {
    return this.#client.end();
  }

  async #backends(): Promise<Map<number, number> | null> {
    if (!this.#readable) return null;
    const { rows } = await this.#client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [this.#applicationName],
    );
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ENOENT') continue;
        this.#readable = false;
        return null;
      }
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      cpu.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / this.#ticksPerSecond);
    }
    return cpu;
  }
}

/** One variant, as the runs see it. */
interface Variant {
  info: Omit<WorkerInfo, 'variant' | 'setupMs'>;
  /**
   * Catches up over the stored events from an empty read model, in batches of `batchSize`; with
   * `limit`, stops (untimed) after that many events. Calls `timed.start()` right before starting
   * and `timed.end()` once caught up.
   */
  run(
    batchSize: number,
    label: string,
    timed: { start(): Promise<void>; end(): Promise<void> },
    limit?: number,
  ): Promise<Omit<RunResult, 'variant' | 'batchSize' | 'round' | 'elapsedMs' | 'nodeCpuMs' | 'pgCpuMs'>>;
  close(): Promise<void>;
}

async function rawVariant(config: WorkerConfig, expected: Map<string, CustomerSummary>): Promise<Variant> {
  const client = new Client({ connectionString: config.systemConnectionString });
  await client.connect();
  // Qualified names: a bare `ORDER BY seq` would sort by the `seq::text` output column.
  const text = `SELECT e.event_id, e.stream_id, e.stream_version, e.transaction_id::text AS transaction_id,
      e.seq::text AS seq, e.event_type, e.schema_version, e.payload, e.metadata, e.recorded_at
    FROM "${config.schema}".events e
    WHERE (e.transaction_id, e.seq) > ($1::xid8, $2::bigint)
    ORDER BY e.transaction_id, e.seq
    LIMIT $3::int`;
  interface Row {
    transaction_id: string;
    seq: string;
    payload: ItemAddedPayload;
  }
  return {
    info: {
      libraries: [`pg ${packageVersion('pg')}`],
      notes: [
        'one pg Client; prepared keyset SELECT of the columns readAll selects, ORDER BY (transaction_id, seq) LIMIT batch',
        'payload and metadata decoded by pg (JSON.parse), folded into a Map of customer summaries',
      ],
    },
    async run(batchSize, label, timed, limit = Infinity) {
      const summaries = new Map<string, CustomerSummary>();
      let transactionId = '0';
      let seq = '0';
      let events = 0;
      let batches = 0;
      await timed.start();
      while (events < limit) {
        const { rows } = await client.query<Row>({
          name: 'raw_read_all',
          text,
          values: [transactionId, seq, batchSize],
        });
        if (rows.length === 0) break;
        batches++;
        for (const row of rows) {
          const payload = row.payload;
          summaries.set(payload.customerId, fold(summaries.get(payload.customerId), payload));
        }
        events += rows.length;
        const last = rows[rows.length - 1]!;
        transactionId = last.transaction_id;
        seq = last.seq;
      }
      await timed.end();
      if (limit === Infinity) checkSummaries(label, summaries.values(), expected);
      return { events, batches, timings: null, delivery: null };
    },
    close: () => client.end(),
  };
}

async function readAllDocuments(
  collection: ReadModelCollection<CustomerSummary>,
): Promise<CustomerSummary[]> {
  const documents: CustomerSummary[] = [];
  for (;;) {
    const page = await collection.find({}, { limit: 10_000, offset: documents.length });
    documents.push(...page);
    if (page.length < 10_000) return documents;
  }
}

async function engineVariant(
  variant: 'memory' | 'sql',
  config: WorkerConfig,
  expected: Map<string, CustomerSummary>,
): Promise<Variant> {
  const eventStore = await createPostgresEventStore({
    connectionString: config.systemConnectionString,
    schema: config.schema,
    migrate: false,
  });
  // Housekeeping (removing a run's rows), outside the variant's connections.
  const admin = new Client({ connectionString: config.connectionString });
  await admin.connect();
  const schema = `"${config.schema}"`;
  let runs = 0;
  return {
    info: {
      libraries: [`potter ${packageVersion('potter')} (this checkout)`, `pg ${packageVersion('pg')}`],
      notes: [
        "createPostgresEventStore({ connectionString, schema }) (pool of 10); the events' schema",
        variant === 'memory'
          ? 'new ProjectionEngine({ eventStore, store: new MemoryProjectionStore(), readModels: new MemoryReadModelStore(), reportIntervalMs: 0 })'
          : 'new ProjectionEngine({ eventStore, store: SqlProjectionStore.for(eventStore), readModels: SqlReadModelStore.for(eventStore), reportIntervalMs: 0 }) — transactional',
        '@Projection(<new name per run>, { batchSize }); handler: ctx.readModel(collection).update(customerId, fold)',
        `timed: engine.start() … await engine.waitUntilCaughtUp(name, { intervalMs: ${CAUGHT_UP_POLL_MS[variant]} })`,
      ],
    },
    async run(batchSize, label, timed, limit) {
      const n = ++runs;
      const name = `bench-customers-${variant}-${n}`;
      const collection = `bench_customers_${variant}_${n}`;
      let reached: () => void = () => undefined;
      const warmupDone = new Promise<void>((resolve) => (reached = resolve));
      const projection = customerSummaries(
        name,
        collection,
        batchSize,
        limit === undefined ? undefined : { events: limit, reached },
      );
      const readModels: ReadModelStore =
        variant === 'memory' ? new MemoryReadModelStore() : SqlReadModelStore.for(eventStore);
      const engine = new ProjectionEngine({
        eventStore,
        store: variant === 'memory' ? new MemoryProjectionStore() : SqlProjectionStore.for(eventStore),
        readModels,
        // The status reporter counts the lag by reading the rest of the log: not part of catching up.
        reportIntervalMs: 0,
      });
      engine.register(projection);
      try {
        await timed.start();
        engine.start();
        if (limit !== undefined) {
          await warmupDone;
          await engine.stop();
          await timed.end();
          return { events: limit, batches: 0, timings: null, delivery: null };
        }
        const status = await engine.waitUntilCaughtUp(name, {
          timeoutMs: 15 * 60_000,
          intervalMs: CAUGHT_UP_POLL_MS[variant],
        });
        await timed.end();
        await engine.stop();
        checkSummaries(label, await readAllDocuments(readModels.collection(collection)), expected);
        if (status.eventsHandled !== config.events)
          throw new Error(`${label}: handled ${status.eventsHandled} events, expected ${config.events}`);
        return {
          events: status.eventsHandled,
          batches: status.timings.batches,
          timings: { ...status.timings },
          delivery: status.delivery,
        };
      } finally {
        await engine.stop();
        if (variant === 'sql') {
          await admin.query(`DELETE FROM ${schema}.read_models WHERE collection = $1`, [collection]);
          await admin.query(`DELETE FROM ${schema}.read_model_collections WHERE collection = $1`, [
            collection,
          ]);
          await admin.query(`DELETE FROM ${schema}.projections WHERE name = $1`, [name]);
        }
      }
    },
    async close() {
      await eventStore.close();
      await admin.end();
    },
  };
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new Error('this file runs as a worker of projections.bench.js (forked with an IPC channel)'));
      return;
    }
    process.send(message, undefined, {}, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

function main(): void {
  const id = process.argv[2] as VariantId;
  if (!VARIANT_IDS.includes(id)) throw new Error(`unknown variant "${String(id)}"`);
  let variant: Variant | undefined;
  let meter: CpuMeter | undefined;
  let config: WorkerConfig | undefined;

  const handle = async (message: ParentMessage): Promise<WorkerMessage> => {
    switch (message.kind) {
      case 'setup': {
        const started = performance.now();
        config = message.config;
        const expected = expectedSummaries(config.events, config.customers);
        meter = new CpuMeter(config.connectionString, config.applicationName);
        await meter.connect();
        variant =
          id === 'raw' ? await rawVariant(config, expected) : await engineVariant(id, config, expected);
        // Untimed: JIT, connections, prepared statements, the table's pages in the cache.
        const untimed = { start: async () => undefined, end: async () => undefined };
        await variant.run(config.warmupBatchSize, `${id} warmup`, untimed, config.warmupEvents);
        return {
          kind: 'ready',
          info: { ...variant.info, variant: id, setupMs: performance.now() - started },
        };
      }
      case 'run': {
        if (!variant || !meter) throw new Error('run before setup');
        const m = meter;
        let before: Awaited<ReturnType<CpuMeter['sample']>> | undefined;
        let started = 0;
        let cpu: Awaited<ReturnType<CpuMeter['since']>> | undefined;
        let elapsedMs = 0;
        gc?.();
        const outcome = await variant.run(
          message.batchSize,
          `${id} b${message.batchSize} r${message.round}`,
          {
            async start() {
              before = await m.sample();
              started = performance.now();
            },
            async end() {
              elapsedMs = performance.now() - started;
              cpu = await m.since(before!);
            },
          },
        );
        return {
          kind: 'result',
          result: {
            variant: id,
            batchSize: message.batchSize,
            round: message.round,
            elapsedMs,
            ...cpu!,
            ...outcome,
          },
        };
      }
      case 'teardown':
        await variant?.close();
        await meter?.close();
        return { kind: 'done' };
    }
  };

  let queue = Promise.resolve();
  process.on('message', (message: ParentMessage) => {
    queue = queue
      .then(() => handle(message))
      .then(
        (reply) => send(reply),
        (error: unknown) =>
          send({
            kind: 'error',
            message: error instanceof Error ? error.message : String(error),
            stack: error instanceof Error ? error.stack : undefined,
          }),
      )
      .then(() => {
        if (message.kind === 'teardown') process.disconnect();
      });
  });
}

main();
