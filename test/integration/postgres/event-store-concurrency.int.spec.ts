import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import {
  ConcurrencyError,
  MemoryEventStore,
  START,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
} from 'potter';
import {
  createPostgresEventStore,
  PgSqlClient,
  SqlEventStore,
  type SqlClient,
  type SqlQueryOptions,
  type SqlResult,
} from 'potter/postgres';
import { events, readLogOf, readWholeLog } from '../../contracts/event-store.contract';
import { usePostgresSchemas } from '../../support/postgres-schemas';

// Concurrency of the event store on a real PostgreSQL (and, where the scenario means something
// without a database, on the memory store). Every schema starts with `prefix` and is dropped at the end.
const pg = usePostgresSchemas('esc', { max: 24 });

async function postgresStore(): Promise<SqlEventStore> {
  return createPostgresEventStore({ pool: pg.pool(), schema: pg.schema() });
}

const backends: [string, () => Promise<EventStore>][] = [
  ['memory', async () => new MemoryEventStore()],
  ['PostgreSQL', postgresStore],
];

/** The events of streams starting with `streamIdPrefix`, once at least `count` are readable. */
async function readPrefix(
  store: EventStore,
  streamIdPrefix: string,
  count: number,
): Promise<RecordedEvent[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const log = await readWholeLog(store, { streamIdPrefix });
    if (log.length >= count || Date.now() > deadline) return log;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const key = (e: Pick<RecordedEvent, 'streamId' | 'streamVersion'>): string =>
  `${e.streamId}@${e.streamVersion}`;

/** Checks the log and the streams agree: every event once, each stream's versions 1…n in log order. */
function expectConsistentLog(log: RecordedEvent[], streams: Map<string, RecordedEvent[]>): void {
  expect(new Set(log.map((e) => e.id)).size).toBe(log.length);
  const seenVersion = new Map<string, number>();
  for (const event of log) {
    // Per-stream order in the global log follows the versions.
    expect(event.streamVersion).toBe((seenVersion.get(event.streamId) ?? 0) + 1);
    seenVersion.set(event.streamId, event.streamVersion);
  }
  for (const [streamId, stream] of streams) {
    expect(stream.map((e) => e.streamVersion)).toEqual(stream.map((_, i) => i + 1));
    expect(seenVersion.get(streamId) ?? 0).toBe(stream.length);
  }
}

describe.each(backends)('event store concurrency: %s', (_name, create) => {
  let store: EventStore;
  beforeAll(async () => {
    store = await create();
  });
  afterAll(async () => {
    await store.close();
  });

  it('concurrent writers with expected versions: no gaps, no duplicates, losers conflict, winners kept (property)', async () => {
    // A writer's step: append 1–3 events to one of a few streams, expecting the version it last saw.
    let conflicts = 0;
    const step = fc.record({
      stream: fc.integer({ min: 0, max: 2 }),
      size: fc.integer({ min: 1, max: 3 }),
      fresh: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(step, { minLength: 1, maxLength: 5 }), { minLength: 2, maxLength: 6 }),
        async (writers) => {
          const run = randomUUID().slice(0, 8);
          const acknowledged: { streamId: string; ids: string[]; next: number }[] = [];
          const lost: string[] = [];
          await Promise.all(
            writers.map(async (steps, w) => {
              const believed = new Map<string, number>();
              for (const [s, { stream, size, fresh }] of steps.entries()) {
                const streamId = `${run}-${stream}`;
                if (fresh || !believed.has(streamId))
                  believed.set(streamId, (await store.streamInfo(streamId))?.version ?? 0);
                const batch: NewEvent[] = Array.from({ length: size }, (_, i) => ({
                  id: `${run}-w${w}-s${s}-e${i}`,
                  type: 'step',
                  payload: { w, s, i },
                }));
                try {
                  const result = await store.appendToStream(streamId, batch, {
                    expectedVersion: believed.get(streamId)!,
                  });
                  expect(result.written).toBe(size);
                  acknowledged.push({
                    streamId,
                    ids: batch.map((e) => e.id!),
                    next: result.nextExpectedVersion,
                  });
                  believed.set(streamId, result.nextExpectedVersion);
                } catch (error) {
                  expect(error).toBeInstanceOf(ConcurrencyError);
                  conflicts++;
                  lost.push(...batch.map((e) => e.id!));
                  believed.delete(streamId);
                }
              }
            }),
          );
          const streams = new Map<string, RecordedEvent[]>();
          for (let s = 0; s < 3; s++) streams.set(`${run}-${s}`, await store.readStream(`${run}-${s}`));
          const stored = new Map([...streams.values()].flat().map((e) => [e.id, e]));
          // Everything acknowledged is stored, at the versions the append reported.
          for (const { streamId, ids, next } of acknowledged) {
            ids.forEach((id, i) =>
              expect(stored.get(id)).toMatchObject({ streamId, streamVersion: next - ids.length + 1 + i }),
            );
          }
          // Nothing of a rejected append is stored; nothing else is either.
          for (const id of lost) expect(stored.has(id)).toBe(false);
          expect(stored.size).toBe(acknowledged.reduce((n, a) => n + a.ids.length, 0));
          const log = await readPrefix(store, `${run}-`, stored.size);
          expect(log.length).toBe(stored.size);
          expectConsistentLog(log, streams);
        },
      ),
      { numRuns: 20 },
    );
    expect(conflicts).toBeGreaterThan(0); // the runs did race
  }, 60_000);

  it('an OCC storm: 50 writers with the same expected version, exactly one wins', async () => {
    await store.appendToStream('storm', events(1));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, w) =>
        store.appendToStream('storm', [{ id: `storm-${w}`, type: 'claim', payload: { w } }], {
          expectedVersion: 1,
        }),
      ),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(49);
    for (const { reason } of lost) {
      expect(reason).toBeInstanceOf(ConcurrencyError);
      expect((reason as ConcurrencyError).details).toMatchObject({ expectedVersion: 1, actualVersion: 2 });
    }
    expect((await store.readStream('storm')).map((e) => e.streamVersion)).toEqual([1, 2]);
  });

  it('a retry racing the original append writes once; both succeed', async () => {
    const batch: NewEvent[] = [
      { id: `race-${randomUUID()}`, type: 'a', payload: {} },
      { id: `race-${randomUUID()}`, type: 'b', payload: {} },
    ];
    const [first, second] = await Promise.all([
      store.appendToStream('race', batch, { expectedVersion: 'no_stream' }),
      store.appendToStream('race', batch, { expectedVersion: 'no_stream' }),
    ]);
    expect([first.written, second.written].sort()).toEqual([0, 2]);
    expect(first.nextExpectedVersion).toBe(2);
    expect(second.nextExpectedVersion).toBe(2);
    expect(await store.readStream('race')).toHaveLength(2);
  });

  it('16 writers bulk-import 100,000 events while a reader follows: every event seen exactly once, in stream order', async () => {
    const run = randomUUID().slice(0, 8);
    const WRITERS = 16;
    const BATCHES = 25;
    const BATCH = 250;
    const total = WRITERS * BATCHES * BATCH;
    let writing = true;
    const seen = new Set<string>();
    let duplicates = 0;
    const perStream = new Map<string, number>();
    let outOfOrder = 0;
    let seenWhileWriting = 0;
    const reader = (async () => {
      let after = START;
      for (;;) {
        const done = !writing;
        const batch = await store.readAll({ after, limit: 2_000, streamIdPrefix: run });
        if (!done) seenWhileWriting += batch.events.length;
        for (const event of batch.events) {
          if (seen.has(event.id)) duplicates++;
          seen.add(event.id);
          if (event.streamVersion !== (perStream.get(event.streamId) ?? 0) + 1) outOfOrder++;
          perStream.set(event.streamId, event.streamVersion);
        }
        after = batch.position;
        if (done && batch.endOfLog) return;
        if (batch.endOfLog) await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    // Two writers share each stream (expected version 'any'), so appends to a stream interleave.
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let b = 0; b < BATCHES; b++) {
          await store.appendToStream(
            `${run}-${w % (WRITERS / 2)}`,
            Array.from({ length: BATCH }, (_, i) => ({ type: 'imported', payload: { w, b, i } })),
          );
          await new Promise((resolve) => setImmediate(resolve)); // let the reader in (memory never waits)
        }
      }),
    );
    writing = false;
    await reader;
    expect(duplicates).toBe(0);
    expect(outOfOrder).toBe(0);
    expect(seenWhileWriting).toBeGreaterThan(0); // the reader really read alongside the writers
    // A reader that started while writes were in flight may stop before the last commits are
    // visible (another session's transaction still open); finish reading them now.
    if (seen.size < total) for (const e of await readPrefix(store, run, total)) seen.add(e.id);
    expect(seen.size).toBe(total);
    for (let s = 0; s < WRITERS / 2; s++) {
      const info = await store.streamInfo(`${run}-${s}`);
      expect(info!.version).toBe(2 * BATCHES * BATCH);
      expect(perStream.get(`${run}-${s}`)).toBeLessThanOrEqual(info!.version);
    }
  }, 90_000);
});

describe('event store concurrency: PostgreSQL transactions', () => {
  let store: SqlEventStore;
  let table: string;
  beforeEach(async () => {
    store = await postgresStore();
    table = `"${store.schema}".events`;
  });
  afterEach(async () => {
    await store.close();
  });

  /** Opens a transaction, appends in it, and keeps it open until `end('commit' | 'rollback')`. */
  async function holdOpen(streamId: string, batch: NewEvent[]) {
    let finish: (action: 'commit' | 'rollback') => void = () => undefined;
    const decided = new Promise<'commit' | 'rollback'>((resolve) => (finish = resolve));
    let appended: (position: string | undefined) => void = () => undefined;
    const inside = new Promise<string | undefined>((resolve) => (appended = resolve));
    const transaction = store.client
      .transaction(async (tx) => {
        appended((await store.appendToStream(streamId, batch, { transaction: tx })).lastPosition);
        if ((await decided) === 'rollback') throw new Error('rolled back on purpose');
      })
      .catch((error: Error) => {
        if (error.message !== 'rolled back on purpose') throw error;
      });
    return {
      position: await inside,
      end: async (action: 'commit' | 'rollback') => (finish(action), transaction),
    };
  }

  it('readAll never passes a transaction still open, then returns its events without skipping', async () => {
    await store.appendToStream('early', events(1));
    const early = await readLogOf(store, 1);
    const held = await holdOpen('held', events(1));
    await store.appendToStream('late-1', events(2));
    await store.appendToStream('late-2', events(1));

    // The later commits are in the table, with higher sequence numbers than the open append…
    const { rows } = await pg
      .pool()
      .query<{ stream_id: string; seq: string }>(`SELECT stream_id, seq::text FROM ${table} ORDER BY seq`);
    expect(rows.map((r) => r.stream_id)).toEqual(['early', 'late-1', 'late-1', 'late-2']);
    // …but readAll stops before the open transaction: it never returns a position past it.
    const during = await store.readAll({ after: early[0]!.position });
    expect(during).toEqual({ events: [], position: early[0]!.position, endOfLog: true });
    expect(held.position! > early[0]!.position).toBe(true);

    await held.end('commit');
    let after = await store.readAll({ after: during.position });
    // (Another session's transaction may still hold the log back for a moment: wait for it.)
    for (let i = 0; i < 500 && after.events.length < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      after = await store.readAll({ after: during.position });
    }
    expect(after.events.map(key)).toEqual(['held@1', 'late-1@1', 'late-1@2', 'late-2@1']);
    expect(after.events[0]!.position).toBe(held.position);
    expect(after.endOfLog).toBe(true);
    // A bigserial reader would have skipped it: it commits after higher numbers were readable.
    const { rows: held_ } = await pg
      .pool()
      .query<{ seq: string }>(`SELECT seq::text FROM ${table} WHERE stream_id = 'held'`);
    expect(Number(held_[0]!.seq)).toBeLessThan(Number(rows[1]!.seq));
  });

  it('a rolled-back transaction that took positions neither stalls nor skips', async () => {
    const doomed = await holdOpen('doomed', events(3));
    await store.appendToStream('survivor', events(2));
    expect((await store.readAll()).events).toEqual([]); // held back while the doomed one is open
    await doomed.end('rollback');
    const log = await readLogOf(store, 2);
    expect(log.map(key)).toEqual(['survivor@1', 'survivor@2']);
    expect(log[0]!.position > doomed.position!).toBe(true);
    expect(await store.streamInfo('doomed')).toBeUndefined();
    const tail = await store.readAll({ after: log[1]!.position });
    expect(tail).toEqual({ events: [], position: log[1]!.position, endOfLog: true });
    await store.appendToStream('doomed', events(1), { expectedVersion: 'no_stream' });
    expect((await readLogOf(store, 3)).map(key)).toEqual(['survivor@1', 'survivor@2', 'doomed@1']);
  });

  it('a subscription following the log while a transaction is held sees every event once, in order', async () => {
    const seen: RecordedEvent[] = [];
    const subscription = store.subscribeToAll((batch) => void seen.push(...batch), { pollIntervalMs: 20 });
    await store.appendToStream('a', events(1));
    const held = await holdOpen('held', events(2));
    await store.appendToStream('b', events(1));
    await store.appendToStream('a', events(1));
    await held.end('commit');
    await store.appendToStream('c', events(1));
    await readLogOf(store, 6);
    await subscription.caughtUp();
    await subscription.stop();
    expect(seen.map(key)).toEqual(['a@1', 'held@1', 'held@2', 'b@1', 'a@2', 'c@1']);
  });
});

describe('event store concurrency: PostgreSQL, an append whose outcome is unknown', () => {
  /** A client that loses the reply of chosen append statements: it runs them, then throws. */
  class LossyClient implements SqlClient {
    readonly inner: PgSqlClient;
    loseNext = 0;
    failBeforeNext = 0;
    constructor(inner: PgSqlClient) {
      this.inner = inner;
    }
    async query<R extends object>(
      text: string,
      params?: readonly unknown[],
      options?: SqlQueryOptions,
    ): Promise<SqlResult<R>> {
      const isAppend =
        options?.name?.includes('_append_') === true && !options.name.endsWith('_append_conflict');
      if (isAppend && this.failBeforeNext > 0) {
        this.failBeforeNext--;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      }
      const result = await this.inner.query<R>(text, params, options);
      if (isAppend && this.loseNext > 0) {
        this.loseNext--;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      }
      return result;
    }
    transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
      return this.inner.transaction(fn);
    }
    close(): Promise<void> {
      return this.inner.close();
    }
  }

  it('retrying with the same ids after a lost reply writes nothing twice; after a failed send, writes once', async () => {
    const schema = pg.schema();
    await (await createPostgresEventStore({ pool: pg.pool(), schema })).close();
    const client = new LossyClient(new PgSqlClient({ pool: pg.pool() }));
    const store = new SqlEventStore(client, { schema });
    await store.appendToStream('acct', events(1));

    const batch: NewEvent[] = [
      { id: randomUUID(), type: 'deposited', payload: { amount: 5 } },
      { id: randomUUID(), type: 'deposited', payload: { amount: 7 } },
    ];
    client.loseNext = 1; // committed, but the caller never hears it
    await expect(store.appendToStream('acct', batch, { expectedVersion: 1 })).rejects.toThrow(/terminated/);
    const retry = await store.appendToStream('acct', batch, { expectedVersion: 1 });
    expect(retry).toEqual({ nextExpectedVersion: 3, written: 0, lastPosition: undefined });

    const next: NewEvent[] = [{ id: randomUUID(), type: 'withdrawn', payload: { amount: 2 } }];
    client.failBeforeNext = 1; // never reached the server
    await expect(store.appendToStream('acct', next, { expectedVersion: 3 })).rejects.toThrow(/terminated/);
    expect(await store.appendToStream('acct', next, { expectedVersion: 3 })).toMatchObject({
      nextExpectedVersion: 4,
      written: 1,
    });

    const stream = await store.readStream('acct');
    expect(stream.map((e) => e.streamVersion)).toEqual([1, 2, 3, 4]);
    expect(new Set(stream.map((e) => e.id)).size).toBe(4);
    expect(await readLogOf(store, 4)).toHaveLength(4);
    await store.close();
  });
});
