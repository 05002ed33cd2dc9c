import type { GlobalPosition, RecordedEvent } from '../eventsourcing/event-store';
import type { SqlClient } from '../eventsourcing/sql/sql-client';

/**
 * Durable state of a projection: `running` (it should run wherever an instance can take the lease),
 * `stopped` (an operator stopped it) or `faulted` (an event failed every retry and the policy is
 * `stop`; `error` says which).
 */
export type ProjectionDurableStatus = 'running' | 'stopped' | 'faulted';

/** Why a projection stopped: the failing event and the error. */
export interface ProjectionFault {
  message: string;
  /** `PotterError.code` or `Error.name`. */
  code: string;
  eventId: string;
  streamId: string;
  eventType: string;
  position: GlobalPosition;
  attempts: number;
  at: string;
}

/** A shadow build of a blue/green rebuild: the generation being built and how far it got. */
export interface ShadowBuild {
  generation: number;
  position: GlobalPosition;
}

/** Work an operator asked the projection's owner to do (from the CLI or another instance). */
export interface ProjectionRequest {
  /**
   * `reset`: clear the read model and the checkpoint, then replay from the start;
   * `rebuild`: the same, or with `blueGreen` build a new generation and swap when caught up;
   * `retry-parked`: re-handle the parked events (of `streamId`, or all) in order;
   * `stop` / `start`: set the durable status.
   */
  action: 'reset' | 'rebuild' | 'retry-parked' | 'stop' | 'start';
  blueGreen?: boolean;
  streamId?: string;
  /** Unique id of this request (set by the store). */
  id: string;
  requestedAt: string;
}

/** Who runs a projection: the instance holding the lease, and the fencing token of its tenure. */
export interface ProjectionLease {
  name: string;
  owner: string;
  /** Increases every time the lease changes hands; progress written with an older token is refused. */
  token: number;
}

/** One projection as its store records it. */
export interface ProjectionRecord {
  name: string;
  /** Position of the last event handled (the next read starts after it). */
  position: GlobalPosition;
  /** Highest position ever handled; events at or below it are replays after a reset. */
  highWater: GlobalPosition;
  status: ProjectionDurableStatus;
  error: ProjectionFault | undefined;
  /** The read-model generation readers see (starts at 1; a blue/green rebuild builds the next). */
  generation: number;
  shadow: ShadowBuild | undefined;
  /** The current lease holder, if any (it may have expired). */
  owner: string | undefined;
  token: number;
  leaseExpiresAt: Date | undefined;
  request: ProjectionRequest | undefined;
  /** Number of parked events. */
  parked: number;
  updatedAt: Date;
}

/** An event set aside by the `park` failure policy, with why. */
export interface ParkedEvent {
  projection: string;
  /** Order of parking (increasing); retries follow it. */
  seq: number;
  streamId: string;
  event: RecordedEvent;
  reason: string;
  /** The read-model generation it was parked from (a blue/green rebuild parks into the next one). */
  generation: number;
  parkedAt: Date;
}

/** An event to park, with why and from which read-model generation. */
export interface ParkRequest {
  event: RecordedEvent;
  reason: string;
  /** @default 1 */
  generation?: number;
}

/** What a runner records about its progress, atomically (with its read-model writes when `tx` is given). */
export interface ProgressUpdate {
  position?: GlobalPosition;
  highWater?: GlobalPosition;
  status?: ProjectionDurableStatus;
  /** `null` clears it. */
  error?: ProjectionFault | null;
  generation?: number;
  /** `null` clears it. */
  shadow?: ShadowBuild | null;
  /** Events to park, in order (with their reasons). */
  park?: ParkRequest[];
  /** Parked events (by `seq`) that were handled and leave the queue. */
  unpark?: number[];
  /** Drops every parked event of this generation (its read model is gone). */
  dropParkedGeneration?: number;
  /**
   * Clears the pending request if it is still the one with this id (a newer request recorded
   * meanwhile stays pending).
   */
  clearRequest?: string;
}

/** Initial state of a projection seen for the first time (from its start position). */
export interface ProjectionInit {
  position: GlobalPosition;
}

/**
 * Where projections keep their checkpoints, leases, parked events and operator requests. Adapters:
 * {@link MemoryProjectionStore} (one process) and `SqlProjectionStore` (PostgreSQL / PGlite). Every
 * adapter passes `test/contracts/projection-store.contract.ts`.
 *
 * Exactly one instance runs a projection at a time: it holds a lease that it renews; the lease's
 * `token` fences every write, so an owner that lost the lease (paused past its expiry, partitioned)
 * cannot record progress after another instance took over — {@link ProjectionStore.commit} raises
 * `ProjectionFencedError`.
 */
export interface ProjectionStore {
  /**
   * Set by SQL stores: the database the store lives in. A projection whose read model is in this
   * database gets its handler's writes and the checkpoint in one transaction (exactly-once).
   */
  readonly sql?: SqlClient;
  /** The projection's record, or `undefined` if it never ran. */
  get(name: string): Promise<ProjectionRecord | undefined>;
  /** Every projection's record, by name. */
  list(): Promise<ProjectionRecord[]>;
  /**
   * Takes the lease for `ttlMs` if nobody holds it, it expired, or `owner` already holds it; the
   * token then increases. Creates the record from `init` the first time. `undefined` when another
   * owner holds a live lease.
   */
  acquire(
    name: string,
    owner: string,
    ttlMs: number,
    init: ProjectionInit,
  ): Promise<{ lease: ProjectionLease; record: ProjectionRecord } | undefined>;
  /** Extends the lease; `false` when it was lost (another token is current). */
  renew(lease: ProjectionLease, ttlMs: number): Promise<boolean>;
  /** Gives the lease up (another instance may take it at once). No-op if already lost. */
  release(lease: ProjectionLease): Promise<void>;
  /**
   * Records progress if `lease` is still current, in `tx` when given (same database as `sql`).
   * Raises `ProjectionFencedError` when the lease was lost: nothing is written.
   */
  commit(lease: ProjectionLease, update: ProgressUpdate, tx?: SqlClient): Promise<void>;
  /** Parked events of a projection (of one stream when given), in parking order. */
  parked(name: string, streamId?: string): Promise<ParkedEvent[]>;
  /** Records an operator request for the projection's owner (replacing a pending one); returns it. */
  request(name: string, request: Omit<ProjectionRequest, 'requestedAt' | 'id'>): Promise<ProjectionRequest>;
  /**
   * Forgets a projection: record, lease and parked events (for `reset` with no running owner and
   * for tests). Returns whether it existed.
   */
  remove(name: string): Promise<boolean>;
  /** Releases resources. */
  close(): Promise<void>;
}
