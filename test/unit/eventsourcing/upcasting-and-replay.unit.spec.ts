import {
  Event,
  EventHandler,
  EventSerializer,
  MemoryEventStore,
  SerializationError,
  UpcasterRegistry,
  defineUpcaster,
  replayEvents,
  replayStream,
  type RecordedEvent,
} from 'potter';

@Event({ name: 'customer.registered', schemaVersion: 3 })
class CustomerRegistered {
  constructor(
    readonly customerId: string,
    readonly fullName: string,
    readonly country: string,
  ) {}
}

const upcasters = () =>
  new UpcasterRegistry().register(
    // v1 had { id, name } — v2 renamed the fields.
    defineUpcaster('customer.registered', 1, (p) => ({ customerId: p['id'], fullName: p['name'] })),
    // v2 → v3 added the country, defaulting from a header.
    defineUpcaster('customer.registered', 2, (p, metadata) => ({
      ...p,
      country: metadata.headers['country'] ?? 'unknown',
    })),
  );

async function storeWith(
  ...events: { stream: string; type: string; schemaVersion: number; payload: Record<string, unknown> }[]
) {
  const store = new MemoryEventStore();
  for (const e of events) {
    await store.appendToStream(e.stream, [
      {
        type: e.type,
        schemaVersion: e.schemaVersion,
        payload: e.payload,
        metadata: { headers: { country: 'NO' } },
      },
    ]);
  }
  return store;
}

describe('upcasting', () => {
  it('chains v1 → v2 → v3 on read; current events pass through', async () => {
    const store = await storeWith(
      { stream: 'c-1', type: 'customer.registered', schemaVersion: 1, payload: { id: 'c1', name: 'Ann' } },
      {
        stream: 'c-2',
        type: 'customer.registered',
        schemaVersion: 2,
        payload: { customerId: 'c2', fullName: 'Bo' },
      },
      {
        stream: 'c-3',
        type: 'customer.registered',
        schemaVersion: 3,
        payload: { customerId: 'c3', fullName: 'Cy', country: 'SE' },
      },
    );
    const serializer = new EventSerializer({ upcasters: upcasters() });
    const { events } = await store.readAll();
    const domain = events.map((e) => serializer.toDomainEvent<CustomerRegistered>(e));
    expect(domain.every((d) => d instanceof CustomerRegistered)).toBe(true);
    expect(domain.map((d) => ({ ...d }))).toEqual([
      { customerId: 'c1', fullName: 'Ann', country: 'NO' },
      { customerId: 'c2', fullName: 'Bo', country: 'NO' },
      { customerId: 'c3', fullName: 'Cy', country: 'SE' },
    ]);
  });

  it('fails with SerializationError when an upcaster throws, is missing, or the type is unknown', async () => {
    const store = await storeWith(
      { stream: 'c-1', type: 'customer.registered', schemaVersion: 1, payload: { id: 'c1' } },
      { stream: 'x-1', type: 'no.such.type', schemaVersion: 1, payload: {} },
      { stream: 'c-9', type: 'customer.registered', schemaVersion: 4, payload: {} },
    );
    const [v1, unknown, future] = (await store.readAll()).events as [
      RecordedEvent,
      RecordedEvent,
      RecordedEvent,
    ];
    const throwing = new EventSerializer({
      upcasters: new UpcasterRegistry().register(
        defineUpcaster('customer.registered', 1, () => {
          throw new Error('bad data');
        }),
      ),
    });
    const error = (() => {
      try {
        throwing.toDomainEvent(v1);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).message).toBe(
      'Upcasting customer.registered from v1 failed: Error: bad data',
    );
    expect((error as SerializationError).cause).toEqual(new Error('bad data'));
    expect(() => new EventSerializer().toDomainEvent(v1)).toThrow(
      'No upcaster for customer.registered from v1',
    );
    expect(() => new EventSerializer().toDomainEvent(unknown)).toThrow(SerializationError);
    expect(() => new EventSerializer().toDomainEvent(unknown)).toThrow('unknown event type "no.such.type"');
    expect(() => new EventSerializer().toDomainEvent(future)).toThrow('newer than its class');
    expect(() => upcasters().register(defineUpcaster('customer.registered', 1, (p) => p))).toThrow(
      'Two upcasters',
    );
  });
});

@Event('acct.opened')
class Opened {
  constructor(readonly owner: string) {}
}
@Event('acct.deposited')
class Deposited {
  constructor(readonly amount: number) {}
}

describe('replay', () => {
  let store: MemoryEventStore;
  beforeEach(async () => {
    store = new MemoryEventStore();
    for (let i = 0; i < 10; i++) {
      await store.appendToStream(`Account-${i % 3}`, [
        i < 3
          ? { type: 'acct.opened', payload: { owner: `o${i}` } }
          : { type: 'acct.deposited', payload: { amount: i } },
      ]);
    }
    await store.appendToStream('Other-1', [{ type: 'acct.deposited', payload: { amount: 100 } }]);
  });

  it('replays everything, in order, in batches, with progress', async () => {
    const seen: string[] = [];
    const progress: number[] = [];
    const result = await replayEvents(
      store,
      (event, recorded) => void seen.push(`${recorded.streamId}:${event.constructor.name}`),
      {
        batchSize: 4,
        onProgress: (p) => progress.push(p.processed),
      },
    );
    expect(result.processed).toBe(11);
    expect(seen[0]).toBe('Account-0:Opened');
    expect(seen).toHaveLength(11);
    expect(progress).toEqual([4, 8, 11]);
  });

  it('replays a filtered set: types, stream prefix, position range', async () => {
    const sum = { value: 0 };
    class Summer {
      @EventHandler(Deposited)
      add(e: Deposited): void {
        sum.value += e.amount;
      }
      @EventHandler(Opened)
      opened(): void {
        throw new Error('filtered out, never called');
      }
    }
    await replayEvents(store, new Summer(), { eventTypes: ['acct.deposited'], streamIdPrefix: 'Account-' });
    expect(sum.value).toBe(3 + 4 + 5 + 6 + 7 + 8 + 9);
    const all = (await store.readAll()).events;
    const ranged: number[] = [];
    await replayEvents(store, (_e, r) => void ranged.push(r.streamVersion), {
      after: all[2]!.position,
      until: all[5]!.position,
    });
    expect(ranged).toHaveLength(3);
    const perStream: number[] = [];
    // Account-1 holds the events of i = 1, 4, 7.
    expect(
      await replayStream(store, 'Account-1', [
        (e: object) => void perStream.push((e as Deposited).amount ?? -1),
      ]),
    ).toBe(3);
    expect(perStream).toEqual([-1, 4, 7]);
  });

  it('can be cancelled between batches', async () => {
    const controller = new AbortController();
    const replay = replayEvents(store, () => controller.abort(new Error('cancelled')), {
      batchSize: 2,
      signal: controller.signal,
    });
    await expect(replay).rejects.toThrow('cancelled');
  });
});
