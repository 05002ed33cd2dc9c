import { ConfigurationError } from '../../core/errors';

/** What a strategy knows when an aggregate has just been saved. */
export interface SnapshotDecisionInput {
  aggregateType: string;
  /** Stream version after the save. */
  version: number;
  /** Version of the last snapshot (0 when there is none). */
  lastSnapshotVersion: number;
  /** When the last snapshot was taken (`undefined` when there is none). */
  lastSnapshotAt: Date | undefined;
  now: Date;
}

/** Decides after each save whether to take a snapshot. */
export interface SnapshotStrategy {
  shouldSnapshot(input: SnapshotDecisionInput): boolean;
}

/**
 * Every `n` events: snapshots when the version has crossed a multiple of `n` since the last
 * snapshot — so a batch that jumps over the multiple still snapshots.
 */
export function Frequency(n: number): SnapshotStrategy {
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigurationError('Frequency(n) needs an integer n >= 1.', { n });
  return {
    shouldSnapshot: ({ version, lastSnapshotVersion }) =>
      Math.floor(version / n) > Math.floor(lastSnapshotVersion / n),
  };
}

/** When at least `intervalMs` passed since the aggregate's last snapshot (or it has none yet). */
export function TimeBased(intervalMs: number): SnapshotStrategy {
  if (!(intervalMs > 0))
    throw new ConfigurationError('TimeBased(intervalMs) needs intervalMs > 0.', { intervalMs });
  return {
    shouldSnapshot: ({ version, lastSnapshotVersion, lastSnapshotAt, now }) =>
      version > lastSnapshotVersion &&
      (lastSnapshotAt === undefined || now.getTime() - lastSnapshotAt.getTime() >= intervalMs),
  };
}

/** Combines strategies: `'any'` snapshots when either says so, `'all'` only when all do. @default 'any' */
export function Hybrid(strategies: SnapshotStrategy[], mode: 'any' | 'all' = 'any'): SnapshotStrategy {
  if (strategies.length === 0) throw new ConfigurationError('Hybrid needs at least one strategy.');
  return {
    shouldSnapshot: (input) =>
      mode === 'any'
        ? strategies.some((s) => s.shouldSnapshot(input))
        : strategies.every((s) => s.shouldSnapshot(input)),
  };
}

/** A strategy from a function. */
export function CustomSnapshotStrategy(decide: (input: SnapshotDecisionInput) => boolean): SnapshotStrategy {
  return { shouldSnapshot: decide };
}
