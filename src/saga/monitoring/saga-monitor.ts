import type { ProjectionEngine, ProjectionStatus, WaitOptions } from '../../projections/projection-engine';
import { SAGA_READ_MODEL_PROJECTION } from './saga-read-model.projection';
import type { SagaViewStore } from './saga-view';

/**
 * The saga read model of a `SagaModule` with monitoring on (inject it): the views, the engine that
 * runs the `potter.sagas` projection, and a way to wait until the views show every saga write
 * committed so far (tests, a report right after work, a CLI).
 */
export class SagaMonitor {
  constructor(
    /** The read model (what the saga queries read). */
    readonly views: SagaViewStore,
    /** The projection engine running `potter.sagas` (status, reset, rebuild). */
    readonly engine: ProjectionEngine,
  ) {}

  /** The status of the `potter.sagas` projection (position, lag, errors). */
  status(): Promise<ProjectionStatus> {
    return this.engine.status(SAGA_READ_MODEL_PROJECTION);
  }

  /**
   * Resolves once the read model has applied every saga event committed before the call.
   *
   * @throws TimeoutError after `options.timeoutMs` (default 30 s).
   */
  waitUntilCaughtUp(options?: WaitOptions): Promise<ProjectionStatus> {
    return this.engine.waitUntilCaughtUp(SAGA_READ_MODEL_PROJECTION, options);
  }
}
