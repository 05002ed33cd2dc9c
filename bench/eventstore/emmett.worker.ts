/**
 * Emmett's PostgreSQL event store (`@event-driven-io/emmett-postgresql`), as its docs use it:
 * `getPostgreSQLEventStore(connectionString)` with its own pool, `appendToStream` with the expected
 * stream version, `aggregateStream` to read and fold. Emmett has no schema option: its tables go to
 * the first schema of the `search_path`, which the connection string sets to this system's schema.
 */
import type { Event, ReadEvent } from '@event-driven-io/emmett';
import {
  getPostgreSQLEventStore,
  type PostgresEventStore,
  type PostgresReadEventMetadata,
} from '@event-driven-io/emmett-postgresql';
import type { StorageStats, WorkerConfig } from './protocol';
import { packageVersion, serve, storageStats, type StoreUnderTest } from './worker-runtime';
import { envelopeMetadata, initialState, type ItemAddedPayload, type OrderState } from './workload';

type ItemAdded = Event<'BenchItemAdded', ItemAddedPayload, Record<string, unknown>>;

function evolve(state: OrderState, event: ReadEvent<ItemAdded, PostgresReadEventMetadata>): OrderState {
  state.count++;
  state.quantity += event.data.quantity;
  state.version = Number(event.metadata.streamPosition);
  return state;
}

/** The connection string with `search_path` set to `schema` for every connection of the pool. */
function withSearchPath(connectionString: string, schema: string): string {
  const url = new URL(connectionString);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function createEmmettStore(config: WorkerConfig): Promise<StoreUnderTest> {
  const store: PostgresEventStore = getPostgreSQLEventStore(
    withSearchPath(config.systemConnectionString, config.schema),
  );
  // Emmett migrates on first use; do it now so no timed call pays for it.
  await store.schema.migrate();

  return {
    info: {
      libraries: [
        `@event-driven-io/emmett-postgresql ${packageVersion('@event-driven-io/emmett-postgresql')}`,
        `@event-driven-io/emmett ${packageVersion('@event-driven-io/emmett')}`,
        `@event-driven-io/dumbo ${packageVersion('@event-driven-io/dumbo')}`,
        `pg ${packageVersion('pg')}`,
      ],
      poolSize: '10 (pg.Pool default, created by dumbo)',
      tasks: ['append-1', 'append-10', 'append-100', 'append-8x10', 'read-fold'],
      notes: [
        'getPostgreSQLEventStore(connectionString) with default options; search_path set in the connection string',
        'appendToStream(stream, events, { expectedStreamVersion: BigInt(version) }); events carry the same metadata as the raw rows',
        'read-fold = aggregateStream(stream, { evolve, initialState })',
      ],
    },
    async append(streamId, events, version) {
      const timestamp = new Date().toISOString();
      const result = await store.appendToStream<ItemAdded>(
        streamId,
        events.map((event) => ({
          type: 'BenchItemAdded',
          data: event.payload,
          metadata: envelopeMetadata(event, timestamp),
        })),
        { expectedStreamVersion: BigInt(version) },
      );
      return Number(result.nextExpectedStreamVersion);
    },
    async readAndFold(streamId) {
      const { state } = await store.aggregateStream<OrderState, ItemAdded>(streamId, {
        evolve,
        initialState,
      });
      return state;
    },
    stats(): Promise<StorageStats> {
      return storageStats(config.connectionString, config.schema, {
        name: 'emt_messages',
        payload: 'message_data',
        metadata: 'message_metadata',
      });
    },
    close: () => store.close(),
  };
}

serve('emmett', createEmmettStore);
