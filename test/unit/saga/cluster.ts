import { ManualClock } from 'potter/testing';
import {
  MemorySagaStore,
  SagaOrchestrator,
  type SagaEvent,
  type SagaLease,
  type SagaOrchestratorOptions,
  type SagaRenewal,
  type SagaState,
  type SagaStatus,
  type SagaStore,
} from '../../../src/saga';
import { ManualTimers } from './manual-timers';

/** The lease of the instances of a {@link cluster}: renewed every 1 s, claimed every 1.5 s. */
export const LEASE_MS = 3_000;

/** A promise that never settles. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

/**
 * One instance's view of a shared store that can "crash": from the moment `crash()` is called (or
 * a save matches `crashOn`), every call hangs forever and writes nothing, like a process that died.
 */
export class CrashableStore implements SagaStore {
  #crashed = false;
  /** A save of a state matching this crashes the instance instead of being written. */
  crashOn: ((state: SagaState) => boolean) | undefined;

  constructor(readonly inner: SagaStore) {}

  get crashed(): boolean {
    return this.#crashed;
  }

  crash(): void {
    this.#crashed = true;
  }

  create(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    return this.#call(state, () => this.inner.create(state, lease, events));
  }
  save(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    return this.#call(state, () => this.inner.save(state, lease, events));
  }
  load(sagaId: string): Promise<SagaState | undefined> {
    return this.#call(undefined, () => this.inner.load(sagaId));
  }
  list(statuses?: readonly SagaStatus[]): Promise<SagaState[]> {
    return this.#call(undefined, () => this.inner.list(statuses));
  }
  findOpen(sagaName: string, businessKey: string): Promise<SagaState | undefined> {
    return this.#call(undefined, () => this.inner.findOpen(sagaName, businessKey));
  }
  claim(lease: SagaLease, limit: number): Promise<SagaState[]> {
    return this.#call(undefined, () => this.inner.claim(lease, limit));
  }
  acquire(sagaId: string, lease: SagaLease): Promise<SagaState | undefined> {
    return this.#call(undefined, () => this.inner.acquire(sagaId, lease));
  }
  renew(lease: SagaLease, sagaIds: readonly string[]): Promise<SagaRenewal[]> {
    return this.#call(undefined, () => this.inner.renew(lease, sagaIds));
  }
  release(owner: string, sagaIds: readonly string[]): Promise<void> {
    return this.#call(undefined, () => this.inner.release(owner, sagaIds));
  }
  requestCancel(sagaId: string, reason?: string): Promise<boolean> {
    return this.#call(undefined, () => this.inner.requestCancel(sagaId, reason));
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  #call<T>(state: SagaState | undefined, fn: () => Promise<T>): Promise<T> {
    if (!this.#crashed && state !== undefined && this.crashOn?.(state) === true) this.#crashed = true;
    return this.#crashed ? never<T>() : fn();
  }
}

/** One orchestrator of a {@link cluster}, with its own timers, events and warnings. */
export interface Instance {
  readonly orchestrator: SagaOrchestrator;
  readonly timers: ManualTimers;
  /** The instance's view of the shared store (crash it to simulate a dead process). */
  readonly store: CrashableStore;
  readonly events: SagaEvent[];
  readonly warnings: string[];
  /** `type` or `type:step` of each event this instance published, in order. */
  trail(): string[];
}

/**
 * Orchestrator instances sharing one {@link MemorySagaStore} and one manual clock. Each instance
 * has its own manual timers: an instance whose timers are never advanced again is a dead process
 * (its heartbeat never renews its leases). Advance the timers of the live instances only (a
 * `ManualTimers` whose overdue timers fire sets the clock back to their due time).
 */
export function cluster() {
  const clock = new ManualClock(1_000);
  const store = new MemorySagaStore({ clock, recordSaves: true });
  let ids = 0;
  const instance = (
    instanceId: string,
    options: { timers?: ManualTimers } & Omit<SagaOrchestratorOptions, 'timers'> = {},
  ): Instance => {
    const timers = options.timers ?? new ManualTimers(clock);
    const view = new CrashableStore(store);
    const events: SagaEvent[] = [];
    const warnings: string[] = [];
    const orchestrator = new SagaOrchestrator({
      store: view,
      clock,
      random: () => 0.5,
      newId: () => `saga-${++ids}`,
      instanceId,
      leaseMs: LEASE_MS,
      publish: (event) => void events.push(event),
      logger: {
        debug() {},
        info() {},
        warn: (message) => void warnings.push(message),
        error: (message) => void warnings.push(message),
      },
      ...options,
      timers,
    });
    return {
      orchestrator,
      timers,
      store: view,
      events,
      warnings,
      trail: () => events.map((e) => (e.step === undefined ? e.type : `${e.type}:${e.step}`)),
    };
  };
  return { clock, store, instance };
}
