import { createToken } from '../metadata/records';

/** Attributes attached to a measurement (low cardinality: names, states, never ids). */
export type MetricAttributes = Record<string, string | number | boolean>;

/**
 * The one port through which Potter's components report measurements. It is a no-op unless an
 * implementation is plugged in (the observability module adds OpenTelemetry and prom-client ones);
 * implementations must be cheap and must never throw.
 */
export interface Instrumentation {
  /** Adds `value` to a monotonic counter (e.g. `potter.projection.events`). */
  count(name: string, value: number, attributes?: MetricAttributes): void;
  /** Sets the current value of a gauge (e.g. `potter.projection.lag`). */
  gauge(name: string, value: number, attributes?: MetricAttributes): void;
  /** Records one observation of a distribution (durations in ms). */
  record(name: string, value: number, attributes?: MetricAttributes): void;
}

/** An {@link Instrumentation} that drops everything. */
export const noopInstrumentation: Instrumentation = Object.freeze({
  count: () => undefined,
  gauge: () => undefined,
  record: () => undefined,
});

/** Injects the application's {@link Instrumentation} (optional; defaults to {@link noopInstrumentation}). */
export const INSTRUMENTATION = createToken<Instrumentation>('potter:Instrumentation');
