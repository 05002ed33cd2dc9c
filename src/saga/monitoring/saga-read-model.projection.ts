import { EventHandler } from '../../metadata/handler.decorators';
import {
  Projection,
  type ProjectionContext,
  type ProjectionHooks,
  type ProjectionMaintenanceContext,
} from '../../projections/projection.decorators';
import { SAGA_STREAM_PREFIX, sagaEventOf } from '../saga-event-log';
import { SAGA_EVENT_CLASSES } from '../saga-events';
import type { SagaViewStore } from './saga-view';

/** The projection's name (its checkpoint in the projection store). */
export const SAGA_READ_MODEL_PROJECTION = 'potter.sagas';

/**
 * The `potter.sagas` projection: applies every recorded saga event (streams `potter.saga-*`) to a
 * {@link SagaViewStore}. With an SQL projection store it runs transactionally (each event applied
 * exactly once, in the checkpoint's transaction); with a memory one at least once (the views are
 * idempotent by stream version). `SagaModule` runs it when monitoring is on; register it with your
 * own `ProjectionEngine` to run it elsewhere (a monitoring service).
 */
// Its tables have no generations: rebuilt in place (reset), never blue/green.
@Projection(SAGA_READ_MODEL_PROJECTION, { streamIdPrefix: SAGA_STREAM_PREFIX, blueGreen: false })
export class SagaReadModelProjection implements ProjectionHooks {
  constructor(readonly views: SagaViewStore) {}

  @EventHandler(Object.values(SAGA_EVENT_CLASSES))
  async on(_event: object, context: ProjectionContext): Promise<void> {
    const event = sagaEventOf(context.event);
    if (event !== undefined) await this.views.apply(event, context.transaction);
  }

  /** Clears the read model before a replay from the start (`engine.reset` / `rebuild`). */
  async reset(context: ProjectionMaintenanceContext): Promise<void> {
    await this.views.reset(context.transaction);
  }
}
