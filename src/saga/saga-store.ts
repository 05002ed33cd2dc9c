import { SagaConflictError, SagaOwnershipLostError } from './errors';
import { ConfigurationError } from '../core/errors';
import type { EventStore } from '../eventsourcing/event-store';
import type { MemoryEventStore } from '../eventsourcing/memory/memory-event-store';
import { sagaStreamId, toSagaStoreEvents } from './saga-event-log';
import type { SagaEvent, SagaState, SagaStatus } from './types';
import type { Clock } from '../core/clock';
import { systemClock } from '../core/clock';

/** The statuses in which a saga still has work to do (a durable store resumes these). */
export const UNFINISHED_SAGA_STATUSES: readonly SagaStatus[] = ['pending', 'running', 'compensating'];

/** The statuses of an open saga: unfinished, or waiting for an operator (one per business key). */
export const OPEN_SAGA_STATUSES: readonly SagaStatus[] = [...UNFINISHED_SAGA_STATUSES, 'compensation_failed'];

/** Who holds a saga, and for how long each write extends the hold. */
export interface SagaLease {
  /** The orchestrator instance id. */
  readonly owner: string;
  /**
   * Each create/save/claim/acquire/renew holds the saga this long (on the store's clock). A
   * positive, finite number: the stores reject others with a `ConfigurationError`.
   */
  readonly leaseMs: number;
}

/** A saga the owner still holds after {@link SagaStore.renew}, with a pending cancellation request. */
export interface SagaRenewal {
  readonly sagaId: string;
  /** Set when {@link SagaStore.requestCancel} asked for the cancellation (the reason, or ''). */
  readonly cancelRequested?: string;
}

/**
 * Persistence port of sagas. The orchestrator creates a saga, then saves it after every transition
 * (status change, step started/completed/skipped, attempt, compensation) with the whole state and
 * a `version` one higher than the previous save, so a resumer can continue from
 * `completedSteps`/`currentStep`/`attempts`.
 *
 * Ownership: with several orchestrator instances on one store, each saga is held by one owner at a
 * time through a lease that every write extends. A save by an instance that lost the lease (it
 * expired and another instance claimed the saga) is refused, so a stalled instance cannot
 * overwrite the new owner's progress. A settled saga (any status but the unfinished ones) has no
 * owner.
 */
export interface SagaStore {
  /**
   * Set when the store records saga events: every `create`/`save` appends the events it is given
   * to the stream `potter.saga-<sagaId>` of this event store in the same transaction as the
   * state, so the events are exactly the transitions that were saved (the saga read model is
   * projected from them, see `SagaModule`'s `monitoring`).
   */
  readonly eventStore?: EventStore;
  /**
   * Inserts a new saga held by `lease.owner`.
   *
   * @throws SagaConflictError when the id is taken, or an open saga (see {@link OPEN_SAGA_STATUSES})
   *   of the same `sagaName` has the same `businessKey`.
   * @param events The saga events of the transitions this write records: a store that records
   *   events ({@link SagaStore.eventStore}) appends them to the saga's stream atomically with the
   *   state (both or neither); other stores ignore them.
   */
  create(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void>;
  /**
   * Replaces the state of a saga held by `lease.owner` whose stored version is `state.version - 1`,
   * and extends the lease (or ends it when the new status is settled or `compensation_failed`).
   *
   * @throws SagaOwnershipLostError when another owner holds it, or the stored version differs.
   * @param events As for {@link SagaStore.create}: recorded with the state, or not at all.
   */
  save(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void>;
  /** The latest state of a saga, or undefined. */
  load(sagaId: string): Promise<SagaState | undefined>;
  /** The sagas in one of `statuses` (default: the unfinished ones), oldest first (then by id). */
  list(statuses?: readonly SagaStatus[]): Promise<SagaState[]>;
  /** The open saga of this name with this business key, if any. */
  findOpen(sagaName: string, businessKey: string): Promise<SagaState | undefined>;
  /**
   * Takes up to `limit` unfinished sagas that nobody holds (no owner, or an expired lease), oldest
   * first, for `lease.owner`. Two instances claiming at the same time never get the same saga. A
   * `limit` below 1 takes none.
   */
  claim(lease: SagaLease, limit: number): Promise<SagaState[]>;
  /**
   * Takes one open saga (see {@link OPEN_SAGA_STATUSES}) for `lease.owner` if nobody else holds it
   * (no owner, an expired lease, or `lease.owner` already), used for operator actions on a saga in
   * `compensation_failed` and to cancel a saga whose owner died. Resolves to its state, or
   * undefined if it does not exist, is settled (a settled saga keeps no owner), or another owner
   * holds it.
   */
  acquire(sagaId: string, lease: SagaLease): Promise<SagaState | undefined>;
  /**
   * Extends the leases of `sagaIds` still held by `lease.owner`; resolves to those (others were
   * lost), once each, in the order of `sagaIds`.
   */
  renew(lease: SagaLease, sagaIds: readonly string[]): Promise<SagaRenewal[]>;
  /**
   * Gives up `owner`'s hold on `sagaIds` (on a clean stop), so another instance may claim them at
   * once. Without `sagaIds`, gives up every hold of `owner` (a restarted instance with a stable id
   * frees what its previous life held, to resume it at once).
   */
  release(owner: string, sagaIds?: readonly string[]): Promise<void>;
  /**
   * Records a cancellation request for the owner of an unfinished saga (it sees it on its next
   * renewal). Resolves to false when the saga is not unfinished.
   */
  requestCancel(sagaId: string, reason?: string): Promise<boolean>;
  /** Releases the store's resources (a store sharing a client does not close it). */
  close(): Promise<void>;
}

interface MemoryRow {
  state: SagaState;
  owner: string | undefined;
  leaseExpiresAt: number;
  cancelRequested: string | undefined;
}

const isUnfinished = (status: SagaStatus): boolean => UNFINISHED_SAGA_STATUSES.includes(status);
const isOpen = (status: SagaStatus): boolean => OPEN_SAGA_STATUSES.includes(status);

/**
 * The lease duration, checked: a positive, finite number of milliseconds.
 *
 * @throws ConfigurationError otherwise.
 * @internal
 */
export function leaseMsOf(lease: SagaLease): number {
  const { leaseMs } = lease;
  if (typeof leaseMs !== 'number' || !Number.isFinite(leaseMs) || leaseMs <= 0) {
    throw new ConfigurationError(
      `A saga lease needs a positive duration in milliseconds, not ${String(leaseMs)}.`,
      {
        leaseMs,
      },
    );
  }
  return leaseMs;
}

/**
 * Oldest first, then by id in UTF-16 code unit order (the order of `COLLATE "C"` in the SQL store
 * for ids without characters beyond U+FFFF). @internal
 */
export function compareSagas(a: SagaState, b: SagaState): number {
  if (a.startedAt !== b.startedAt) return a.startedAt - b.startedAt;
  return a.sagaId < b.sagaId ? -1 : a.sagaId > b.sagaId ? 1 : 0;
}

/**
 * An in-memory {@link SagaStore} (tests, single process): the same rules as the SQL store
 * (versions, leases on the given clock, one open saga per business key). States are copied in and
 * out with `structuredClone` (the SQL store keeps JSON: see its notes on what JSON loses).
 */
export class MemorySagaStore implements SagaStore {
  readonly #rows = new Map<string, MemoryRow>();
  readonly #clock: Clock;
  readonly #recordSaves: boolean;
  /**
   * Every created and saved state, in order, when the store was made with `recordSaves: true` (for
   * tests that check the persistence after each transition); else empty, so a long-running
   * process does not keep every transition of every saga.
   */
  readonly saves: SagaState[] = [];

  readonly eventStore: MemoryEventStore | undefined;

  /**
   * @param options.clock The clock leases run on (default: the system clock).
   * @param options.recordSaves Keep every created and saved state in {@link MemorySagaStore.saves}.
   * @param options.eventStore Record the saga events in this in-memory event store, in the same
   *   step as the state (see {@link SagaStore.eventStore}).
   */
  constructor(options: { clock?: Clock; recordSaves?: boolean; eventStore?: MemoryEventStore } = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#recordSaves = options.recordSaves ?? false;
    this.eventStore = options.eventStore;
  }

  /**
   * Appends `events` to the saga's stream. The in-memory event store checks and writes
   * synchronously (before its first `await`), so calling this right before changing the row makes
   * the two one step: no other call runs in between. When it refuses the events (a deleted
   * stream), it wrote nothing, and the caller puts the row back as it was.
   */
  #append(sagaId: string, events: readonly SagaEvent[] | undefined): Promise<unknown> | undefined {
    if (this.eventStore === undefined || events === undefined || events.length === 0) return undefined;
    return this.eventStore.appendToStream(sagaStreamId(sagaId), toSagaStoreEvents(events));
  }

  async create(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    const leaseMs = leaseMsOf(lease);
    if (this.#rows.has(state.sagaId)) {
      throw new SagaConflictError(`A saga with id ${state.sagaId} exists already.`, { sagaId: state.sagaId });
    }
    // Like the SQL store's partial unique index: only an open saga takes the business key.
    if (state.businessKey !== undefined && isOpen(state.status)) {
      const open = this.#findOpen(state.sagaName, state.businessKey);
      if (open !== undefined) {
        throw new SagaConflictError(
          `Saga ${open.sagaId} (${state.sagaName}) is open for business key ${state.businessKey}.`,
          { sagaId: open.sagaId, sagaName: state.sagaName, businessKey: state.businessKey },
        );
      }
    }
    const copy = structuredClone(state);
    const appended = this.#append(state.sagaId, events);
    const row: MemoryRow = {
      state: copy,
      owner: isUnfinished(state.status) ? lease.owner : undefined,
      leaseExpiresAt: this.#clock.now() + leaseMs,
      cancelRequested: undefined,
    };
    this.#rows.set(state.sagaId, row);
    try {
      await appended;
    } catch (error) {
      // The events were refused (before anything was written): neither is the state.
      if (this.#rows.get(state.sagaId) === row && row.state === copy) this.#rows.delete(state.sagaId);
      throw error;
    }
    if (this.#recordSaves) this.saves.push(structuredClone(state));
  }

  async save(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    const leaseMs = leaseMsOf(lease);
    const row = this.#rows.get(state.sagaId);
    if (row === undefined || row.owner !== lease.owner || row.state.version !== state.version - 1) {
      throw new SagaOwnershipLostError(state.sagaId, lease.owner);
    }
    const copy = structuredClone(state);
    const appended = this.#append(state.sagaId, events);
    const before = { ...row };
    row.state = copy;
    if (isUnfinished(state.status)) {
      row.leaseExpiresAt = this.#clock.now() + leaseMs;
    } else {
      row.owner = undefined;
      row.cancelRequested = undefined;
    }
    try {
      await appended;
    } catch (error) {
      // The events were refused (before anything was written): the state goes back too, unless
      // something wrote the row since.
      if (row.state === copy) Object.assign(row, before);
      throw error;
    }
    if (this.#recordSaves) this.saves.push(structuredClone(state));
  }

  async load(sagaId: string): Promise<SagaState | undefined> {
    const row = this.#rows.get(sagaId);
    return row === undefined ? undefined : structuredClone(row.state);
  }

  async list(statuses: readonly SagaStatus[] = UNFINISHED_SAGA_STATUSES): Promise<SagaState[]> {
    return [...this.#rows.values()]
      .map((row) => row.state)
      .filter((state) => statuses.includes(state.status))
      .sort(compareSagas)
      .map((state) => structuredClone(state));
  }

  async findOpen(sagaName: string, businessKey: string): Promise<SagaState | undefined> {
    const state = this.#findOpen(sagaName, businessKey);
    return state === undefined ? undefined : structuredClone(state);
  }

  async claim(lease: SagaLease, limit: number): Promise<SagaState[]> {
    const leaseMs = leaseMsOf(lease);
    // `slice(0, -1)` would take all but one: a limit below 1 takes none.
    if (!(limit >= 1)) return [];
    const now = this.#clock.now();
    const rows = [...this.#rows.values()]
      .filter((row) => isUnfinished(row.state.status) && this.#free(row, now))
      .sort((a, b) => compareSagas(a.state, b.state))
      .slice(0, Math.floor(limit));
    return rows.map((row) => {
      row.owner = lease.owner;
      row.leaseExpiresAt = now + leaseMs;
      return structuredClone(row.state);
    });
  }

  async acquire(sagaId: string, lease: SagaLease): Promise<SagaState | undefined> {
    const leaseMs = leaseMsOf(lease);
    const row = this.#rows.get(sagaId);
    const now = this.#clock.now();
    if (
      row === undefined ||
      !isOpen(row.state.status) ||
      (row.owner !== lease.owner && !this.#free(row, now))
    ) {
      return undefined;
    }
    row.owner = lease.owner;
    row.leaseExpiresAt = now + leaseMs;
    return structuredClone(row.state);
  }

  async renew(lease: SagaLease, sagaIds: readonly string[]): Promise<SagaRenewal[]> {
    const leaseMs = leaseMsOf(lease);
    const now = this.#clock.now();
    const held: SagaRenewal[] = [];
    for (const sagaId of new Set(sagaIds)) {
      const row = this.#rows.get(sagaId);
      if (row === undefined || row.owner !== lease.owner) continue;
      row.leaseExpiresAt = now + leaseMs;
      held.push(
        row.cancelRequested === undefined ? { sagaId } : { sagaId, cancelRequested: row.cancelRequested },
      );
    }
    return held;
  }

  async release(owner: string, sagaIds?: readonly string[]): Promise<void> {
    const rows =
      sagaIds === undefined ? [...this.#rows.values()] : sagaIds.map((sagaId) => this.#rows.get(sagaId));
    for (const row of rows) {
      if (row !== undefined && row.owner === owner) row.owner = undefined;
    }
  }

  async requestCancel(sagaId: string, reason?: string): Promise<boolean> {
    const row = this.#rows.get(sagaId);
    if (row === undefined || !isUnfinished(row.state.status)) return false;
    row.cancelRequested = reason ?? '';
    return true;
  }

  async close(): Promise<void> {}

  #free(row: MemoryRow, now: number): boolean {
    return row.owner === undefined || row.leaseExpiresAt <= now;
  }

  #findOpen(sagaName: string, businessKey: string): SagaState | undefined {
    for (const row of this.#rows.values()) {
      const state = row.state;
      if (state.sagaName === sagaName && state.businessKey === businessKey && isOpen(state.status))
        return state;
    }
    return undefined;
  }
}
