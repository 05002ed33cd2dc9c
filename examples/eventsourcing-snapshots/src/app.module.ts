import {
  EventSourcingModule,
  Module,
  type Constructor,
  type EventStore,
  type SnapshotStore,
  type SnapshotStrategy,
} from 'potter';
import { Meter } from './meter.aggregate';

/**
 * The root module for one snapshot configuration: without a strategy the app takes no snapshot
 * and reads none; with one it snapshots after the saves the strategy picks and loads each meter
 * from its latest snapshot plus the events after it.
 */
export function createAppModule(
  eventStore: EventStore,
  snapshotStore: SnapshotStore,
  snapshotStrategy: SnapshotStrategy | undefined,
): Constructor {
  @Module({
    imports: [
      EventSourcingModule.forRoot({
        aggregates: [Meter],
        eventStore,
        ...(snapshotStrategy ? { snapshotStore, snapshotStrategy } : {}),
      }),
    ],
  })
  class AppModule {}
  return AppModule;
}
