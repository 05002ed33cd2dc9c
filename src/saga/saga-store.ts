import type { SagaState, SagaStatus } from './types';

/** The statuses in which a saga still has work to do (a durable store resumes these). */
export const UNFINISHED_SAGA_STATUSES: readonly SagaStatus[] = ['pending', 'running', 'compensating'];

/**
 * Persistence port of sagas. The orchestrator calls `save` after every transition (status change,
 * step started/completed/skipped, attempt, compensation), with the whole state and a `version` one
 * higher than the previous save, so a durable store can keep the latest state and a resumer can
 * continue from `completedSteps`/`currentStep`/`attempts`.
 */
export interface SagaStore {
  /** Stores the state (replacing the previous one of the same saga). */
  save(state: SagaState): Promise<void>;
  /** The latest state of a saga, or undefined. */
  load(sagaId: string): Promise<SagaState | undefined>;
  /** The sagas in one of `statuses` (default: the unfinished ones), oldest first. */
  list(statuses?: readonly SagaStatus[]): Promise<SagaState[]>;
}

/** An in-memory {@link SagaStore} (tests, single process). States are copied in and out. */
export class MemorySagaStore implements SagaStore {
  readonly #states = new Map<string, SagaState>();
  /** Every saved state, in order (for tests that check the persistence after each transition). */
  readonly saves: SagaState[] = [];

  save(state: SagaState): Promise<void> {
    const copy = structuredClone(state);
    this.#states.set(state.sagaId, copy);
    this.saves.push(structuredClone(state));
    return Promise.resolve();
  }

  load(sagaId: string): Promise<SagaState | undefined> {
    const state = this.#states.get(sagaId);
    return Promise.resolve(state === undefined ? undefined : structuredClone(state));
  }

  list(statuses: readonly SagaStatus[] = UNFINISHED_SAGA_STATUSES): Promise<SagaState[]> {
    return Promise.resolve(
      [...this.#states.values()]
        .filter((state) => statuses.includes(state.status))
        .sort((a, b) => a.startedAt - b.startedAt)
        .map((state) => structuredClone(state)),
    );
  }
}
