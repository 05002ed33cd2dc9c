import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { SqlReadModelStore, createPostgresEventStore, type SqlEventStore } from 'potter/postgres';
import { postgresUrl } from '../../support/services';

/**
 * Support of the projection fault tests: worker processes (test/fault/support/projection-worker.js,
 * running the compiled package), event generation, the pure fold of the stored events, and the
 * read model and checkpoint as stored.
 */

export const PROJECTION = 'fault-sums';
export const EVENT_TYPE = 'fault.Deposited';

const WORKER = join(__dirname, 'projection-worker.js');
const ROOT = join(__dirname, '..', '..', '..');

// ---------------------------------------------------------------------------------------------
// Worker processes

/** One line a worker printed (see projection-worker.js). */
export interface WorkerLine {
  t: string;
  instance: string;
  at: number;
  [key: string]: unknown;
}

export interface WorkerOptions {
  schema: string;
  instance: string;
  model?: 'sql' | 'docs';
  leaseTtlMs?: number;
  batchSize?: number;
  stallMs?: number;
  stallAt?: 'begin' | 'write';
}

/** A running worker process and what it printed. */
export class Worker {
  readonly instance: string;
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: WorkerLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(options: WorkerOptions) {
    this.instance = options.instance;
    this.child = spawn(process.execPath, [WORKER], {
      cwd: ROOT,
      env: {
        ...process.env,
        POTTER_POSTGRES_URL: postgresUrl(),
        FAULT_SCHEMA: options.schema,
        FAULT_INSTANCE: options.instance,
        FAULT_MODEL: options.model ?? 'sql',
        FAULT_LEASE_TTL_MS: String(options.leaseTtlMs ?? 1000),
        FAULT_BATCH_SIZE: String(options.batchSize ?? 200),
        ...(options.stallMs ? { FAULT_STALL_MS: String(options.stallMs) } : {}),
        ...(options.stallAt ? { FAULT_STALL_AT: options.stallAt } : {}),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) {
        if (part.trim() === '') continue;
        try {
          this.lines.push(JSON.parse(part) as WorkerLine);
        } catch {
          this.lines.push({ t: 'text', instance: this.instance, at: Date.now(), text: part });
        }
      }
      this.#notify();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#notify();
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Lines of one kind. */
  of(t: string): WorkerLine[] {
    return this.lines.filter((line) => line.t === t);
  }

  /** Resolves with the first line (from index `from`) that matches; rejects on exit or timeout. */
  async waitFor(
    match: (line: WorkerLine) => boolean,
    what: string,
    timeoutMs = 15_000,
    from = 0,
  ): Promise<WorkerLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.slice(from).find(match);
      if (line) return line;
      if (this.#exit)
        throw new Error(`${this.describe()} exited (${JSON.stringify(this.#exit)}) before ${what}`);
      if (Date.now() > deadline) throw new Error(`${this.describe()}: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(1, deadline - Date.now()));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (the engine stops gracefully), then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  describe(): string {
    const tail = this.lines
      .slice(-8)
      .map((line) => JSON.stringify(line))
      .join('\n  ');
    return `worker ${this.instance} (pid ${this.child.pid})\n  last lines:\n  ${tail}\n  stderr: ${this.#stderr.slice(-1500)}`;
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
    this.#waiters.clear();
  }
}

/** Starts workers and makes sure none survives its test (SIGKILL in `afterEach`). */
export function useWorkers(): { start(options: WorkerOptions): Worker; all(): Worker[] } {
  const workers: Worker[] = [];
  afterEach(async () => {
    const survivors = workers.splice(0);
    for (const worker of survivors) {
      worker.signal('SIGCONT');
      worker.signal('SIGKILL');
    }
    await Promise.all(survivors.map((worker) => worker.exited));
  });
  return {
    start(options) {
      const worker = new Worker(options);
      workers.push(worker);
      return worker;
    },
    all: () => [...workers],
  };
}

// ---------------------------------------------------------------------------------------------
// The event store, events and the pure fold

/** A PostgreSQL event store in `schema` (migrated), with the hand-written read-model tables. */
export async function createFaultStore(pool: Pool, schema: string): Promise<SqlEventStore> {
  const store = await createPostgresEventStore({
    connectionString: postgresUrl(),
    poolConfig: { max: 8 },
    schema,
  });
  await pool.query(`
    CREATE TABLE "${schema}".fault_accounts (
      account text PRIMARY KEY, total bigint NOT NULL, count integer NOT NULL,
      max_version integer NOT NULL, gaps integer NOT NULL);
    CREATE TABLE "${schema}".fault_totals (id integer PRIMARY KEY, events bigint NOT NULL, amount bigint NOT NULL);
    INSERT INTO "${schema}".fault_totals VALUES (1, 0, 0);
    CREATE TABLE "${schema}".fault_applied (instance text PRIMARY KEY, events bigint NOT NULL);`);
  return store;
}

export const accountId = (n: number): string => `acc-${String(n).padStart(4, '0')}`;

/** A deterministic amount (1..997) for event `n` of an account. */
export function amountOf(account: string, n: number): number {
  let h = n * 2654435761;
  for (let i = 0; i < account.length; i++) h = Math.imul(h ^ account.charCodeAt(i), 16777619);
  return (Math.abs(h) % 997) + 1;
}

function deposits(
  account: string,
  from: number,
  count: number,
): { type: string; payload: Record<string, unknown> }[] {
  return Array.from({ length: count }, (_, i) => ({
    type: EVENT_TYPE,
    payload: { account, amount: amountOf(account, from + i) },
  }));
}

/**
 * Appends `perAccount` events to each of `accounts` streams (`Account-acc-NNNN`), `chunk` events per
 * append, `parallel` streams at a time.
 */
export async function seed(
  store: SqlEventStore,
  options: { accounts: number; perAccount: number; chunk?: number; parallel?: number },
): Promise<void> {
  const chunk = options.chunk ?? options.perAccount;
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      if (n >= options.accounts) return;
      const account = accountId(n);
      for (let from = 0; from < options.perAccount; from += chunk) {
        const count = Math.min(chunk, options.perAccount - from);
        await store.appendToStream(`Account-${account}`, deposits(account, from, count));
      }
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 8 }, lane));
}

/**
 * Appends small batches to random accounts (some new) until `stop()`; resolves `stop()` with the
 * number of events written.
 */
export function startWriter(
  store: SqlEventStore,
  options: { accounts: number; intervalMs?: number; maxBatch?: number },
): { stop(): Promise<number>; written(): number } {
  let running = true;
  let written = 0;
  let failure: unknown;
  const loop = (async () => {
    let round = 0;
    while (running) {
      round++;
      const appends = [0, 1].map(async (lane) => {
        const account = accountId(Math.floor(Math.random() * options.accounts));
        const count = 1 + ((round + lane) % (options.maxBatch ?? 5));
        await store.appendToStream(`Account-${account}`, deposits(account, round * 10 + lane, count));
        written += count;
      });
      try {
        await Promise.all(appends);
      } catch (error) {
        failure = error;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 10));
    }
  })();
  return {
    written: () => written,
    async stop() {
      running = false;
      await loop;
      if (failure) throw failure;
      return written;
    },
  };
}

/** The read model as a map (account → sums), plus the global totals. */
export interface Sums {
  accounts: Map<string, { total: number; count: number; maxVersion: number; gaps: number }>;
  totals: { events: number; amount: number };
}

export interface StoredEvent {
  position: string;
  account: string;
  amount: number;
  streamVersion: number;
}

/**
 * Every stored event, in log order. `readAll` returns only rows of transactions older than the
 * oldest one still running in the cluster (so that it never skips a row that commits later): right
 * after the last append, a projection's open batch transaction can still hide the newest events.
 * Call it once the writers have stopped: it reads again until it has every committed row.
 */
export async function readEvents(store: SqlEventStore, timeoutMs = 10_000): Promise<StoredEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await readVisibleEvents(store);
    const { rows } = await store.client.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${store.schema}".events`,
    );
    const stored = Number(rows[0]!.n);
    if (events.length === stored) return events;
    if (Date.now() > deadline) {
      throw new Error(
        `readAll returns ${events.length} events of the ${stored} stored, after ${timeoutMs} ms`,
      );
    }
    await sleep(50);
  }
}

async function readVisibleEvents(store: SqlEventStore): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  let after = '';
  for (;;) {
    const batch = await store.readAll({ after, limit: 10_000 });
    for (const event of batch.events) {
      events.push({
        position: event.position,
        account: String(event.payload.account),
        amount: Number(event.payload.amount),
        streamVersion: event.streamVersion,
      });
    }
    if (batch.endOfLog || batch.position === after) return events;
    after = batch.position;
  }
}

/** The pure fold: what the read model must be once every event is applied exactly once. */
export function fold(events: readonly StoredEvent[]): Sums {
  const accounts: Sums['accounts'] = new Map();
  let amount = 0;
  for (const event of events) {
    const doc = accounts.get(event.account) ?? { total: 0, count: 0, maxVersion: 0, gaps: 0 };
    if (event.streamVersion !== doc.count + 1) doc.gaps++;
    doc.total += event.amount;
    doc.count++;
    doc.maxVersion = Math.max(doc.maxVersion, event.streamVersion);
    accounts.set(event.account, doc);
    amount += event.amount;
  }
  return { accounts, totals: { events: events.length, amount } };
}

/** The hand-written tables as stored (committed). */
export async function readSqlModel(pool: Pool, schema: string): Promise<Sums> {
  const { rows } = await pool.query<{
    account: string;
    total: string;
    count: number;
    max_version: number;
    gaps: number;
  }>(`SELECT account, total, count, max_version, gaps FROM "${schema}".fault_accounts`);
  const accounts: Sums['accounts'] = new Map();
  for (const row of rows) {
    accounts.set(row.account, {
      total: Number(row.total),
      count: row.count,
      maxVersion: row.max_version,
      gaps: row.gaps,
    });
  }
  return { accounts, totals: await sqlTotals(pool, schema) };
}

export async function sqlTotals(pool: Pool, schema: string): Promise<{ events: number; amount: number }> {
  const { rows } = await pool.query<{ events: string; amount: string }>(
    `SELECT events, amount FROM "${schema}".fault_totals WHERE id = 1`,
  );
  return { events: Number(rows[0]!.events), amount: Number(rows[0]!.amount) };
}

/** Events committed per instance (hand-written table). */
export async function appliedBy(pool: Pool, schema: string): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ instance: string; events: string }>(
    `SELECT instance, events FROM "${schema}".fault_applied`,
  );
  return Object.fromEntries(rows.map((row) => [row.instance, Number(row.events)]));
}

interface AccountDoc extends Record<string, unknown> {
  account: string;
  total: number;
  count: number;
  maxVersion: number;
  gaps: number;
}

/** The document read model as readers see it (the active generation). */
export async function readDocsModel(store: SqlEventStore): Promise<Sums> {
  const readModels = SqlReadModelStore.for(store);
  const accounts: Sums['accounts'] = new Map();
  const collection = readModels.collection<AccountDoc>('fault_accounts');
  for (let offset = 0; ; offset += 10_000) {
    const docs = await collection.find({}, { limit: 10_000, offset });
    for (const doc of docs) {
      accounts.set(doc.account, {
        total: doc.total,
        count: doc.count,
        maxVersion: doc.maxVersion,
        gaps: doc.gaps,
      });
    }
    if (docs.length < 10_000) break;
  }
  return { accounts, totals: await docsTotals(store) };
}

export async function docsTotals(store: SqlEventStore): Promise<{ events: number; amount: number }> {
  const doc = await SqlReadModelStore.for(store)
    .collection<{ events: number; amount: number }>('fault_totals')
    .get('all');
  return { events: doc?.events ?? 0, amount: doc?.amount ?? 0 };
}

/** Sorted entries, for readable diffs in `toEqual`. */
export function sorted(sums: Sums): {
  accounts: [string, Sums['accounts'] extends Map<string, infer V> ? V : never][];
  totals: Sums['totals'];
} {
  return {
    accounts: [...sums.accounts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    totals: sums.totals,
  };
}

// ---------------------------------------------------------------------------------------------
// The checkpoint row

export interface Checkpoint {
  position: string;
  owner: string | null;
  token: number;
  live: boolean;
  generation: number;
  shadow: unknown;
  request: unknown;
  status: string;
}

export async function checkpoint(pool: Pool, schema: string): Promise<Checkpoint | undefined> {
  const { rows } = await pool.query<Omit<Checkpoint, 'token'> & { token: string }>(
    `SELECT position, owner, token, coalesce(lease_expires_at > now(), false) AS live, generation, shadow,
            request, status
       FROM "${schema}".projections WHERE name = $1`,
    [PROJECTION],
  );
  const row = rows[0];
  return row && { ...row, token: Number(row.token) };
}

/**
 * Polls `probe` every `intervalMs` until it returns a value other than `undefined`/`false`; on
 * timeout, fails with `what` and what `explain` (if given) says about the state of things.
 */
export async function until<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 25,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const details = explain
        ? await explain().catch((error: unknown) => `(no details: ${String(error)})`)
        : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}\n${details}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until the checkpoint reaches `position` (the last event's); on timeout, says why it may not have. */
export async function untilCheckpointAt(
  pool: Pool,
  schema: string,
  position: string,
  what: string,
  timeoutMs: number,
  workers: readonly Worker[],
): Promise<void> {
  // Positions compare as strings; past `position` means a test read too few events (it then fails).
  await until(
    async () => {
      const cp = await checkpoint(pool, schema);
      return cp !== undefined && cp.position >= position;
    },
    what,
    timeoutMs,
    50,
    async () => stateOf(pool, schema, position, workers),
  );
}

/**
 * The checkpoint, the events behind it, the visibility horizon of the event store (it reads only
 * rows of transactions older than the oldest one running in the cluster) and the transactions
 * holding it back, and the workers' last lines.
 */
export async function stateOf(
  pool: Pool,
  schema: string,
  position: string,
  workers: readonly Worker[],
): Promise<string> {
  const cp = await checkpoint(pool, schema);
  const [transactionId, seq] = position.split(':').map((part) => BigInt(part).toString());
  const behind = cp
    ? await pool.query<{ behind: string; invisible: string; xmin: string }>(
        `SELECT count(*) FILTER (WHERE (e.transaction_id, e.seq) > ($1::text::xid8, $2::bigint)) AS behind,
                count(*) FILTER (WHERE e.transaction_id >= pg_snapshot_xmin(pg_current_snapshot())) AS invisible,
                pg_snapshot_xmin(pg_current_snapshot())::text AS xmin
           FROM "${schema}".events e`,
        cp.position === '' ? ['0', '0'] : cp.position.split(':').map((part) => BigInt(part).toString()),
      )
    : undefined;
  const { rows: holders } = await pool.query(
    `SELECT pid, datname, state, backend_xid::text AS xid, now() - xact_start AS age, left(query, 100) AS query
       FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY xact_start`,
  );
  return [
    `target position ${position} (transaction ${transactionId}, seq ${seq})`,
    `checkpoint ${JSON.stringify(cp)}`,
    `events after the checkpoint ${JSON.stringify(behind?.rows[0])}`,
    `transactions with an xid: ${JSON.stringify(holders)}`,
    ...workers.map((worker) => worker.describe()),
  ].join('\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
