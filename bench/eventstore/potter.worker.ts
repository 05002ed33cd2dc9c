/**
 * Potter's PostgreSQL event store (`potter/postgres`), as an application uses it:
 * `createPostgresEventStore({ connectionString, schema })` with its own pool and default options,
 * `appendToStream` with the expected version the writer tracks, `readStream` + fold, and an
 * `AggregateRepository` loading the 10,000-event aggregate with and without a `SqlSnapshotStore`.
 */
import 'reflect-metadata';
import { Aggregate, AggregateRepository, AggregateRoot, Apply, Event, type NewEvent } from 'potter';
import { SqlSnapshotStore, createPostgresEventStore } from 'potter/postgres';
import type { StorageStats, WorkerConfig } from './protocol';
import { packageVersion, serve, storageStats, type StoreUnderTest } from './worker-runtime';
import {
  AGGREGATE_TYPE,
  EVENT_TYPE,
  SEEDED_AGGREGATE_ID,
  initialState,
  type ItemAddedPayload,
  type OrderState,
} from './workload';

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

@Aggregate(AGGREGATE_TYPE)
class BenchOrder extends AggregateRoot {
  count = 0;
  quantity = 0;

  @Apply(ItemAdded)
  onItemAdded(event: ItemAdded): void {
    this.count++;
    this.quantity += event.quantity;
  }
}

const stateOf = (order: BenchOrder): OrderState => ({
  count: order.count,
  quantity: order.quantity,
  version: order.version,
});

async function createPotterStore(config: WorkerConfig): Promise<StoreUnderTest> {
  const store = await createPostgresEventStore({
    connectionString: config.systemConnectionString,
    schema: config.schema,
  });
  const snapshots = new SqlSnapshotStore(store.client, { schema: config.schema });
  const replaying = new AggregateRepository(BenchOrder, { eventStore: store });
  const fromSnapshot = new AggregateRepository(BenchOrder, { eventStore: store, snapshotStore: snapshots });

  return {
    info: {
      libraries: [`potter ${packageVersion('potter')} (this checkout)`, `pg ${packageVersion('pg')}`],
      poolSize: '10 (pg.Pool default, created by createPostgresEventStore)',
      tasks: [
        'append-1',
        'append-10',
        'append-100',
        'append-8x10',
        'read-fold',
        'load-full',
        'load-snapshot',
      ],
      notes: [
        'createPostgresEventStore({ connectionString, schema }) with default options (notify: true)',
        'appendToStream(stream, events, { expectedVersion: version }); events carry correlationId and causationId, Potter fills the rest of the metadata and the ids (UUID v7)',
        'read-fold = readStream(stream) + fold over RecordedEvent.payload',
        'load-full = AggregateRepository.load (no snapshot store): readStream + EventSerializer.toDomainEvent + @Apply',
        'load-snapshot = AggregateRepository with SqlSnapshotStore; snapshot saved at the last version after seeding',
      ],
    },
    async append(streamId, events, version) {
      const newEvents: NewEvent[] = events.map((event) => ({
        type: event.type,
        payload: event.payload,
        metadata: { correlationId: event.correlationId, causationId: event.causationId },
      }));
      const result = await store.appendToStream(streamId, newEvents, { expectedVersion: version });
      return result.nextExpectedVersion;
    },
    async readAndFold(streamId) {
      const events = await store.readStream(streamId);
      const state: OrderState = initialState();
      for (const event of events) {
        state.count++;
        state.quantity += (event.payload as ItemAddedPayload).quantity;
        state.version = event.streamVersion;
      }
      return state;
    },
    async loadAggregate(aggregateId, useSnapshot) {
      const repository = useSnapshot ? fromSnapshot : replaying;
      return stateOf(await repository.load(aggregateId));
    },
    async afterSeed() {
      const order = await replaying.load(SEEDED_AGGREGATE_ID);
      await snapshots.save({
        streamId: replaying.streamId(SEEDED_AGGREGATE_ID),
        aggregateType: replaying.aggregateType,
        version: order.version,
        schemaVersion: 1,
        state: order.toSnapshot(),
        createdAt: new Date(),
      });
    },
    stats(): Promise<StorageStats> {
      return storageStats(config.connectionString, config.schema, {
        name: 'events',
        payload: 'payload',
        metadata: 'metadata',
      });
    },
    close: () => store.close(),
  };
}

serve('potter', createPotterStore);
