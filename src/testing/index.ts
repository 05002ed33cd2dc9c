/**
 * `potter/testing` — helpers for testing Potter applications.
 */
import 'reflect-metadata';
import type { Constructor } from '../core';
import { silentLogger } from '../core';
import { bootstrap, type BootstrapOptions } from '../container/bootstrap';
import type { PotterApp } from '../container/potter-app';
import type { Provider } from '../metadata';

export { AggregateFixture, AggregateFixtureResult } from './aggregate-fixture';
export { ManualClock } from './manual-clock';
export { ManualTimers, flushMicrotasks } from './manual-timers';

/** Options of {@link createTestApp}. */
export interface TestAppOptions extends BootstrapOptions {
  /** Providers replacing the modules' ones (fakes, stubs). */
  overrides?: Provider[];
}

/**
 * Bootstraps an application for a test: silent logger, no signal handlers, no process exit, and
 * provider overrides. Remember `await app.stop()` in `afterEach`.
 */
export function createTestApp(rootModule: Constructor, options: TestAppOptions = {}): Promise<PotterApp> {
  return bootstrap(rootModule, {
    logger: silentLogger,
    shutdownSignals: [],
    exitOnSignal: false,
    ...options,
  });
}

/** Records every message context a handler saw, in order (for assertions on correlation ids). */
export class ContextRecorder {
  readonly seen: { type: string; id: string; correlationId: string; causationId: string | undefined }[] = [];
  record(context: {
    type: string;
    id: string;
    correlationId: string;
    causationId: string | undefined;
  }): void {
    this.seen.push({
      type: context.type,
      id: context.id,
      correlationId: context.correlationId,
      causationId: context.causationId,
    });
  }
}
