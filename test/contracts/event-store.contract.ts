import {
  ConcurrencyError,
  ConfigurationError,
  START,
  StreamDeletedError,
  type EventStore,
  type NewEvent,
  type ReadAllOptions,
  type RecordedEvent,
} from 'potter';

/** A fresh, empty store for one test, and how to dispose of it. */
export interface EventStoreFixture {
  store: EventStore;
  cleanup(): Promise<void>;
}

/** `n` events of type `type` with payload `{ n: i }`. */
export function events(n: number, type = 'tick', from = 1): NewEvent[] {
  return Array.from({ length: n }, (_, i) => ({ type, payload: { n: from + i } }));
}

/** Reads the whole log in batches of `limit`, checking that positions only grow. */
export async function readWholeLog(
  store: EventStore,
  options: ReadAllOptions = {},
): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  let after = options.after ?? START;
  for (;;) {
    const batch = await store.readAll({ ...options, after });
    for (const event of batch.events) {
      expect(event.position > after).toBe(true);
      after = event.position;
    }
    expect(batch.position >= after).toBe(true);
    all.push(...batch.events);
    after = batch.position;
    if (batch.endOfLog) return all;
  }
}

/**
 * Reads the whole log until it holds at least `count` events. On PostgreSQL, `readAll` shows a
 * commit only once every older transaction on the server has ended: under load from other
 * sessions that can take a moment. Fails after `timeoutMs`.
 */
export async function readLogOf(
  store: EventStore,
  count: number,
  timeoutMs = 5_000,
): Promise<RecordedEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await readWholeLog(store);
    if (log.length >= count || Date.now() > deadline) return log;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const nextMillisecond = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3));
const ids = (list: RecordedEvent[]): string[] => list.map((e) => `${e.streamId}@${e.streamVersion}`);

/**
 * The behaviour every `EventStore` adapter must have. Each test gets a fresh store from `factory`.
 */
export function describeEventStoreContract(name: string, factory: () => Promise<EventStoreFixture>): void {
  describe(`EventStore contract: ${name}`, () => {
    let fixture: EventStoreFixture;
    let store: EventStore;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('append and readStream', () => {
      it('appends atomically and reads the stream back in order', async () => {
        const result = await store.appendToStream('order-1', events(3), { expectedVersion: 'no_stream' });
        expect(result).toEqual({ nextExpectedVersion: 3, written: 3, lastPosition: expect.any(String) });
        const read = await store.readStream('order-1');
        expect(read.map((e) => e.streamVersion)).toEqual([1, 2, 3]);
        expect(read.map((e) => e.payload)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
        expect(
          read.every((e) => e.streamId === 'order-1' && e.type === 'tick' && e.schemaVersion === 1),
        ).toBe(true);
        expect(read.every((e) => e.recordedAt instanceof Date && !Number.isNaN(e.recordedAt.getTime()))).toBe(
          true,
        );
        expect(read[2]!.position).toBe(result.lastPosition);
        expect(read[0]!.position < read[1]!.position && read[1]!.position < read[2]!.position).toBe(true);
        expect(new Set(read.map((e) => e.id)).size).toBe(3);
      });

      it('keeps given ids and nested JSON payloads', async () => {
        const payload = {
          text: 'é "quoted" \\ 🚀',
          list: [1, 'two', { three: [3] }],
          nested: { ok: true, none: null },
        };
        await store.appendToStream('s', [{ id: 'evt-1', type: 'Created', payload }]);
        const [event] = await store.readStream('s');
        expect(event!.id).toBe('evt-1');
        expect(event!.payload).toEqual(payload);
      });

      it('reads forward and backward with from/to versions and a limit', async () => {
        await store.appendToStream('s', events(10));
        const versions = async (options: Parameters<EventStore['readStream']>[1]) =>
          (await store.readStream('s', options)).map((e) => e.streamVersion);
        expect(await versions({ fromVersion: 3, toVersion: 6 })).toEqual([3, 4, 5, 6]);
        expect(await versions({ fromVersion: 5, limit: 2 })).toEqual([5, 6]);
        expect(await versions({ toVersion: 99 })).toHaveLength(10);
        expect(await versions({ fromVersion: 11 })).toEqual([]);
        expect(await versions({ direction: 'backward' })).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        expect(await versions({ direction: 'backward', fromVersion: 8, toVersion: 5 })).toEqual([8, 7, 6, 5]);
        expect(await versions({ direction: 'backward', limit: 3 })).toEqual([10, 9, 8]);
        expect(await versions({ limit: 0 })).toEqual([]);
      });

      it('reads an unknown stream as empty, with no stream info', async () => {
        expect(await store.readStream('nobody')).toEqual([]);
        expect(await store.streamInfo('nobody')).toBeUndefined();
      });

      it('reports stream info', async () => {
        await store.appendToStream('s', events(4));
        expect(await store.streamInfo('s')).toEqual({
          streamId: 's',
          version: 4,
          truncatedBefore: 0,
          deleted: false,
        });
      });
    });

    describe('expected versions', () => {
      async function conflict(promise: Promise<unknown>, expected: unknown, actual: unknown): Promise<void> {
        const error = await rejection(promise);
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect((error as ConcurrencyError).details).toMatchObject({
          expectedVersion: expected,
          actualVersion: actual,
        });
      }

      it("'no_stream' holds only for a stream without events", async () => {
        await store.appendToStream('s', events(2), { expectedVersion: 'no_stream' });
        await conflict(
          store.appendToStream('s', events(1), { expectedVersion: 'no_stream' }),
          'no_stream',
          2,
        );
      });

      it("'exists' holds only for a stream with events", async () => {
        await conflict(
          store.appendToStream('s', events(1), { expectedVersion: 'exists' }),
          'exists',
          'no_stream',
        );
        await store.appendToStream('s', events(1));
        const result = await store.appendToStream('s', events(1), { expectedVersion: 'exists' });
        expect(result.nextExpectedVersion).toBe(2);
      });

      it('a number must equal the current version (0 = no event yet)', async () => {
        await conflict(store.appendToStream('s', events(1), { expectedVersion: 5 }), 5, 'no_stream');
        expect((await store.appendToStream('s', events(2), { expectedVersion: 0 })).nextExpectedVersion).toBe(
          2,
        );
        expect((await store.appendToStream('s', events(1), { expectedVersion: 2 })).nextExpectedVersion).toBe(
          3,
        );
        await conflict(store.appendToStream('s', events(1), { expectedVersion: 1 }), 1, 3);
        await conflict(store.appendToStream('s', events(1), { expectedVersion: 0 }), 0, 3);
      });

      it("'any' (the default) never conflicts", async () => {
        await store.appendToStream('s', events(1), { expectedVersion: 'any' });
        expect((await store.appendToStream('s', events(1))).nextExpectedVersion).toBe(2);
      });

      it('a conflict writes nothing', async () => {
        await store.appendToStream('s', events(2));
        await rejection(store.appendToStream('s', events(3), { expectedVersion: 1 }));
        expect(await store.readStream('s')).toHaveLength(2);
        expect(await readLogOf(store, 2)).toHaveLength(2);
      });

      it('exactly one of two concurrent writers with the same expected version wins', async () => {
        await store.appendToStream('s', events(1));
        const outcomes = await Promise.allSettled([
          store.appendToStream('s', events(1), { expectedVersion: 1 }),
          store.appendToStream('s', events(1), { expectedVersion: 1 }),
        ]);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason).toBeInstanceOf(ConcurrencyError);
        expect((await store.streamInfo('s'))!.version).toBe(2);
      });

      it('rejects malformed expected versions', async () => {
        for (const expectedVersion of [-1, 1.5, 'later' as 'any']) {
          expect(await rejection(store.appendToStream('s', events(1), { expectedVersion }))).toBeInstanceOf(
            ConfigurationError,
          );
        }
      });
    });

    describe('zero-event and idempotent appends', () => {
      it('an append of zero events checks the version and changes nothing', async () => {
        expect(await store.appendToStream('s', [])).toEqual({
          nextExpectedVersion: 0,
          written: 0,
          lastPosition: undefined,
        });
        expect(await store.streamInfo('s')).toBeUndefined();
        await store.appendToStream('s', events(2));
        expect(await store.appendToStream('s', [], { expectedVersion: 2 })).toEqual({
          nextExpectedVersion: 2,
          written: 0,
          lastPosition: undefined,
        });
        expect(await rejection(store.appendToStream('s', [], { expectedVersion: 1 }))).toBeInstanceOf(
          ConcurrencyError,
        );
        expect((await store.streamInfo('s'))!.version).toBe(2);
      });

      it('a retry with the same ids writes nothing and succeeds, even after later appends', async () => {
        const batch: NewEvent[] = [
          { id: 'a', type: 'tick', payload: {} },
          { id: 'b', type: 'tick', payload: {} },
        ];
        await store.appendToStream('s', batch, { expectedVersion: 'no_stream' });
        const retry = await store.appendToStream('s', batch, { expectedVersion: 'no_stream' });
        expect(retry).toEqual({ nextExpectedVersion: 2, written: 0, lastPosition: undefined });
        expect((await store.appendToStream('s', batch)).written).toBe(0);
        await store.appendToStream('s', events(1), { expectedVersion: 2 });
        expect(await store.appendToStream('s', batch, { expectedVersion: 0 })).toEqual({
          nextExpectedVersion: 2,
          written: 0,
          lastPosition: undefined,
        });
        expect((await store.readStream('s')).map((e) => e.id).slice(0, 2)).toEqual(['a', 'b']);
        expect(await readLogOf(store, 3)).toHaveLength(3);
      });

      it('ids stored in another shape are a conflict, and nothing is written', async () => {
        await store.appendToStream('s', [
          { id: 'a', type: 'tick', payload: {} },
          { id: 'b', type: 'tick', payload: {} },
        ]);
        const attempts: [string, string[]][] = [
          ['s', ['b', 'c']], // first id stored, not as the same append
          ['s', ['c', 'a']], // a later id stored
          ['s', ['b', 'a']], // same ids, another order
          ['other', ['a', 'b']], // same ids, another stream
          ['s', ['d', 'd']], // one id twice
        ];
        for (const [streamId, list] of attempts) {
          const error = await rejection(
            store.appendToStream(
              streamId,
              list.map((id) => ({ id, type: 'tick', payload: {} })),
            ),
          );
          expect(error).toBeInstanceOf(ConcurrencyError);
        }
        expect(await store.readStream('s')).toHaveLength(2);
        expect(await store.streamInfo('other')).toBeUndefined();
        expect(await readLogOf(store, 2)).toHaveLength(2);
      });
    });

    it('round-trips metadata: correlation and causation ids, trace, tenant, headers, schema version', async () => {
      await store.appendToStream('s', [
        {
          id: 'e1',
          type: 'Renamed',
          schemaVersion: 3,
          payload: { name: 'x' },
          metadata: {
            correlationId: 'corr-1',
            causationId: 'cmd-1',
            traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
            tenantId: 'acme',
            headers: { source: 'test', 'x-idempotency': 'k1' },
          },
        },
        { id: 'e2', type: 'Plain', payload: {} },
      ]);
      const [first, second] = await store.readStream('s');
      expect(first!.schemaVersion).toBe(3);
      expect(first!.metadata).toEqual({
        correlationId: 'corr-1',
        causationId: 'cmd-1',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tenantId: 'acme',
        schemaVersion: 3,
        headers: { source: 'test', 'x-idempotency': 'k1' },
        timestamp: expect.any(String),
      });
      expect(second!.metadata).toEqual({
        correlationId: 'e2',
        schemaVersion: 1,
        headers: {},
        timestamp: expect.any(String),
      });
      expect(Number.isNaN(Date.parse(second!.metadata.timestamp))).toBe(false);
      const [fromLog] = await readLogOf(store, 2);
      expect(fromLog!.metadata).toEqual(first!.metadata);
    });

    describe('readAll', () => {
      it('reads an empty log', async () => {
        expect(await store.readAll()).toEqual({ events: [], position: START, endOfLog: true });
      });

      it('gives the position of the last committed event matching filters (lastPosition)', async () => {
        expect(await store.lastPosition!()).toBe(START);
        const a = await store.appendToStream('a-1', events(2, 'tick'));
        const b = await store.appendToStream('b-1', events(1, 'tock'));
        expect(await store.lastPosition!()).toBe(b.lastPosition);
        expect(await store.lastPosition!({ eventTypes: ['tick'] })).toBe(a.lastPosition);
        expect(await store.lastPosition!({ streamIdPrefix: 'b-' })).toBe(b.lastPosition);
        expect(await store.lastPosition!({ eventTypes: ['none'] })).toBe(START);
        expect(await store.lastPosition!({ from: new Date(Date.now() + 60_000) })).toBe(START);
      });

      it('counts committed events after a position, with filters (countEvents)', async () => {
        expect(await store.countEvents!()).toBe(0);
        const a = await store.appendToStream('a-1', events(3, 'tick'));
        await store.appendToStream('b-1', events(2, 'tock'));
        expect(await store.countEvents!()).toBe(5);
        expect(await store.countEvents!({ after: a.lastPosition })).toBe(2);
        expect(await store.countEvents!({ eventTypes: ['tick'] })).toBe(3);
        expect(await store.countEvents!({ after: a.lastPosition, eventTypes: ['tick'] })).toBe(0);
        expect(await store.countEvents!({ streamIdPrefix: 'b-' })).toBe(2);
        expect(await store.countEvents!({ to: new Date(Date.now() - 60_000) })).toBe(0);
      });

      it('reads every event once, in append order, in batches after a position', async () => {
        await store.appendToStream('a', events(2));
        await store.appendToStream('b', events(3));
        const last = await store.appendToStream('a', events(1, 'tick', 3));
        const log = await readLogOf(store, 6);
        expect(ids(log)).toEqual(['a@1', 'a@2', 'b@1', 'b@2', 'b@3', 'a@3']);
        expect(log.at(-1)!.position).toBe(last.lastPosition);
        expect(ids(await readWholeLog(store, { limit: 2 }))).toEqual(ids(log));

        const first = await store.readAll({ limit: 4 });
        expect(ids(first.events)).toEqual(ids(log.slice(0, 4)));
        expect(first).toMatchObject({ position: log[3]!.position, endOfLog: false });
        const rest = await store.readAll({ after: first.position, limit: 4 });
        expect(ids(rest.events)).toEqual(ids(log.slice(4)));
        expect(rest).toMatchObject({ position: log[5]!.position, endOfLog: true });
        expect(await store.readAll({ after: rest.position })).toEqual({
          events: [],
          position: rest.position,
          endOfLog: true,
        });
        expect((await store.readAll({ limit: 6 })).endOfLog).toBe(true);
        expect(await store.readAll({ after: log[4]!.position })).toMatchObject({
          events: [log[5]],
          endOfLog: true,
        });
      });

      it('filters by type, stream prefix and time range, moving past what it filters out', async () => {
        await store.appendToStream('order-1', events(2, 'Placed'));
        await nextMillisecond();
        await store.appendToStream('user-1', events(2, 'Registered'));
        await nextMillisecond();
        await store.appendToStream('order-2', events(1, 'Placed'));
        await store.appendToStream('order-1', events(1, 'Shipped'));
        await store.appendToStream('user-2', events(1, 'Registered'));
        const log = await readLogOf(store, 7);
        const tail = log.at(-1)!.position;

        const placed = await store.readAll({ eventTypes: ['Placed'] });
        expect(ids(placed.events)).toEqual(['order-1@1', 'order-1@2', 'order-2@1']);
        expect(placed).toMatchObject({ position: tail, endOfLog: true });
        expect(ids((await store.readAll({ eventTypes: ['Placed', 'Shipped'] })).events)).toHaveLength(4);
        expect((await store.readAll({ eventTypes: [] })).events).toEqual([]);

        const orders = await store.readAll({ streamIdPrefix: 'order-' });
        expect(ids(orders.events)).toEqual(['order-1@1', 'order-1@2', 'order-2@1', 'order-1@3']);
        expect(orders.position).toBe(tail);
        expect(
          ids((await store.readAll({ streamIdPrefix: 'user-', eventTypes: ['Registered'] })).events),
        ).toEqual(['user-1@1', 'user-1@2', 'user-2@1']);

        const from = log[2]!.recordedAt;
        const to = log[4]!.recordedAt;
        expect(from < to).toBe(true);
        const expected = log.filter((e) => e.recordedAt >= from && e.recordedAt < to);
        expect(expected.length).toBeGreaterThan(0);
        expect(ids((await store.readAll({ from, to })).events)).toEqual(ids(expected));
        expect(ids((await store.readAll({ from })).events)).toEqual(
          ids(log.filter((e) => e.recordedAt >= from)),
        );

        // One filtered match per batch: each batch stops at its match, the last one at the tail.
        const batches = [];
        let after = START;
        for (;;) {
          const batch = await store.readAll({ after, limit: 1, eventTypes: ['Shipped', 'Registered'] });
          batches.push(batch);
          after = batch.position;
          if (batch.endOfLog) break;
        }
        expect(batches.flatMap((b) => ids(b.events))).toEqual([
          'user-1@1',
          'user-1@2',
          'order-1@3',
          'user-2@1',
        ]);
        expect(batches.at(-1)!.position).toBe(tail);
        const none = await store.readAll({ eventTypes: ['Nothing'], after: log[1]!.position });
        expect(none).toEqual({ events: [], position: tail, endOfLog: true });
      });
    });

    describe('soft delete and truncation', () => {
      it('a deleted stream can be neither read nor appended to, but its events stay in the log', async () => {
        await store.appendToStream('s', events(2));
        await store.appendToStream('t', events(1));
        await store.deleteStream('s', { expectedVersion: 2 });
        expect(await rejection(store.readStream('s'))).toBeInstanceOf(StreamDeletedError);
        expect(await rejection(store.appendToStream('s', events(1)))).toBeInstanceOf(StreamDeletedError);
        expect(await rejection(store.appendToStream('s', []))).toBeInstanceOf(StreamDeletedError);
        expect(await rejection(store.truncateStreamBefore('s', 2))).toBeInstanceOf(StreamDeletedError);
        expect(await store.streamInfo('s')).toEqual({
          streamId: 's',
          version: 2,
          truncatedBefore: 0,
          deleted: true,
        });
        expect(ids(await readLogOf(store, 3))).toEqual(['s@1', 's@2', 't@1']);
        await store.deleteStream('s'); // again: nothing to do
        expect(await store.readStream('t')).toHaveLength(1);
      });

      it('checks the expected version when deleting', async () => {
        await store.appendToStream('s', events(2));
        expect(await rejection(store.deleteStream('s', { expectedVersion: 1 }))).toBeInstanceOf(
          ConcurrencyError,
        );
        expect((await store.streamInfo('s'))!.deleted).toBe(false);
        expect(await rejection(store.deleteStream('new', { expectedVersion: 'exists' }))).toBeInstanceOf(
          ConcurrencyError,
        );
        await store.deleteStream('never', { expectedVersion: 'no_stream' });
        expect(await rejection(store.appendToStream('never', events(1)))).toBeInstanceOf(StreamDeletedError);
        expect(await store.streamInfo('never')).toEqual({
          streamId: 'never',
          version: 0,
          truncatedBefore: 0,
          deleted: true,
        });
      });

      it('truncation hides older events from stream reads only', async () => {
        await store.appendToStream('s', events(5));
        await store.truncateStreamBefore('s', 3);
        await store.truncateStreamBefore('s', 2); // never moves back
        expect((await store.readStream('s')).map((e) => e.streamVersion)).toEqual([3, 4, 5]);
        expect((await store.readStream('s', { direction: 'backward' })).map((e) => e.streamVersion)).toEqual([
          5, 4, 3,
        ]);
        expect(
          (await store.readStream('s', { fromVersion: 1, toVersion: 3 })).map((e) => e.streamVersion),
        ).toEqual([3]);
        expect(await store.streamInfo('s')).toEqual({
          streamId: 's',
          version: 5,
          truncatedBefore: 3,
          deleted: false,
        });
        expect((await store.appendToStream('s', events(1), { expectedVersion: 5 })).nextExpectedVersion).toBe(
          6,
        );
        expect(await readLogOf(store, 6)).toHaveLength(6);
        await store.truncateStreamBefore('unknown', 3); // nothing to truncate
        expect(await store.streamInfo('unknown')).toBeUndefined();
      });
    });

    describe('subscribeToAll', () => {
      /** Resolves once `seen` holds `count` events. */
      function collector(): {
        seen: RecordedEvent[];
        handler: (batch: RecordedEvent[]) => void;
        until(count: number): Promise<void>;
      } {
        const seen: RecordedEvent[] = [];
        let waiting: { count: number; resolve: () => void } | undefined;
        return {
          seen,
          handler: (batch) => {
            seen.push(...batch);
            if (waiting && seen.length >= waiting.count) waiting.resolve();
          },
          until: (count) =>
            seen.length >= count
              ? Promise.resolve()
              : new Promise<void>((resolve) => (waiting = { count, resolve })),
        };
      }

      it('catches up, follows live appends in order, and stops', async () => {
        await store.appendToStream('a', events(3));
        const { seen, handler, until } = collector();
        const subscription = store.subscribeToAll(handler, { batchSize: 2, pollIntervalMs: 50 });
        await until(3);
        await store.appendToStream('b', events(2));
        await store.appendToStream('a', events(1));
        await until(6);
        expect(ids(seen)).toEqual(['a@1', 'a@2', 'a@3', 'b@1', 'b@2', 'a@4']);
        await subscription.caughtUp();
        expect(subscription.position).toBe(seen.at(-1)!.position);
        await subscription.stop();
        await expect(subscription.done).resolves.toBeUndefined();
        await store.appendToStream('c', events(1));
        expect(seen).toHaveLength(6);
      });

      it('starts after a position and applies filters', async () => {
        await store.appendToStream('order-1', events(2, 'Placed'));
        await store.appendToStream('user-1', events(1, 'Registered'));
        const log = await readLogOf(store, 3);
        const { seen, handler, until } = collector();
        const subscription = store.subscribeToAll(handler, {
          after: log[0]!.position,
          streamIdPrefix: 'order-',
          pollIntervalMs: 50,
        });
        await store.appendToStream('order-2', events(1, 'Placed'));
        await store.appendToStream('user-2', events(1, 'Registered'));
        await until(2);
        await subscription.caughtUp();
        expect(ids(seen)).toEqual(['order-1@2', 'order-2@1']);
        await subscription.stop();
      });

      it('ends with the handler’s error', async () => {
        await store.appendToStream('a', events(1));
        const failure = new Error('handler failed');
        const subscription = store.subscribeToAll(() => {
          throw failure;
        });
        await expect(subscription.done).rejects.toBe(failure);
      });
    });

    describe('bad input', () => {
      it('rejects an empty type or a payload that is not a JSON object, writing nothing', async () => {
        const bad: NewEvent[] = [
          { type: '', payload: {} },
          { type: 'T', payload: null as unknown as Record<string, unknown> },
          { type: 'T', payload: [1, 2] as unknown as Record<string, unknown> },
          { type: 'T', payload: 'text' as unknown as Record<string, unknown> },
        ];
        for (const event of bad) {
          expect(
            await rejection(store.appendToStream('s', [{ type: 'ok', payload: {} }, event])),
          ).toBeInstanceOf(ConfigurationError);
        }
        expect(await store.streamInfo('s')).toBeUndefined();
        expect((await store.readAll()).events).toEqual([]);
      });
    });
  });
}
