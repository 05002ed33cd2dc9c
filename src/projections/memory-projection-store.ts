import { ProjectionFencedError } from '../core/errors';
import { newId } from '../core/ids';
import type { SqlClient } from '../eventsourcing/sql/sql-client';
import type {
  ParkedEvent,
  ProgressUpdate,
  ProjectionInit,
  ProjectionLease,
  ProjectionRecord,
  ProjectionRequest,
  ProjectionStore,
} from './projection-store';

interface Row extends Omit<ProjectionRecord, 'parked'> {
  parkedEvents: ParkedEvent[];
}

/**
 * Projection checkpoints, leases and parked events in this process's memory. Complete (leases,
 * fencing, parking), so several engines in one process behave as several instances would; nothing
 * survives the process.
 */
export class MemoryProjectionStore implements ProjectionStore {
  readonly #rows = new Map<string, Row>();
  #seq = 0;
  readonly #now: () => number;

  /** `now` (ms since the epoch) drives lease expiry. @default Date.now */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async get(name: string): Promise<ProjectionRecord | undefined> {
    const row = this.#rows.get(name);
    return row ? toRecord(row) : undefined;
  }

  async list(): Promise<ProjectionRecord[]> {
    return [...this.#rows.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(toRecord);
  }

  async acquire(
    name: string,
    owner: string,
    ttlMs: number,
    init: ProjectionInit,
  ): Promise<{ lease: ProjectionLease; record: ProjectionRecord } | undefined> {
    const now = this.#now();
    let row = this.#rows.get(name);
    if (!row) {
      row = this.#newRow(name, init.position);
      this.#rows.set(name, row);
    }
    const free =
      row.owner === undefined ||
      row.owner === owner ||
      row.leaseExpiresAt === undefined ||
      row.leaseExpiresAt.getTime() < now;
    if (!free) return undefined;
    row.owner = owner;
    row.token += 1;
    row.leaseExpiresAt = new Date(now + ttlMs);
    row.updatedAt = new Date(now);
    return { lease: { name, owner, token: row.token }, record: toRecord(row) };
  }

  async renew(lease: ProjectionLease, ttlMs: number): Promise<boolean> {
    const row = this.#current(lease);
    if (!row) return false;
    row.leaseExpiresAt = new Date(this.#now() + ttlMs);
    return true;
  }

  async release(lease: ProjectionLease): Promise<void> {
    const row = this.#current(lease);
    if (!row) return;
    row.owner = undefined;
    row.leaseExpiresAt = undefined;
  }

  async commit(lease: ProjectionLease, update: ProgressUpdate, _tx?: SqlClient): Promise<void> {
    const row = this.#current(lease);
    if (!row) throw new ProjectionFencedError(lease.name, lease.token);
    if (update.position !== undefined) row.position = update.position;
    if (update.highWater !== undefined) row.highWater = update.highWater;
    if (update.status !== undefined) row.status = update.status;
    if (update.error !== undefined) row.error = update.error ?? undefined;
    if (update.generation !== undefined) row.generation = update.generation;
    if (update.shadow !== undefined) row.shadow = update.shadow ?? undefined;
    if (update.clearRequest !== undefined && row.request?.id === update.clearRequest) row.request = undefined;
    if (update.unpark?.length) {
      const gone = new Set(update.unpark);
      row.parkedEvents = row.parkedEvents.filter((p) => !gone.has(p.seq));
    }
    if (update.dropParkedGeneration !== undefined) {
      row.parkedEvents = row.parkedEvents.filter((p) => p.generation !== update.dropParkedGeneration);
    }
    for (const { event, reason, generation } of update.park ?? []) {
      row.parkedEvents.push({
        generation: generation ?? 1,
        projection: row.name,
        seq: ++this.#seq,
        streamId: event.streamId,
        event: structuredClone(event),
        reason,
        parkedAt: new Date(this.#now()),
      });
    }
    row.updatedAt = new Date(this.#now());
  }

  async parked(name: string, streamId?: string): Promise<ParkedEvent[]> {
    const row = this.#rows.get(name);
    if (!row) return [];
    return row.parkedEvents
      .filter((p) => streamId === undefined || p.streamId === streamId)
      .map((p) => structuredClone(p));
  }

  async request(
    name: string,
    request: Omit<ProjectionRequest, 'requestedAt' | 'id'>,
  ): Promise<ProjectionRequest> {
    let row = this.#rows.get(name);
    if (!row) {
      row = this.#newRow(name, '');
      this.#rows.set(name, row);
    }
    row.request = { ...request, id: newId(), requestedAt: new Date(this.#now()).toISOString() };
    return structuredClone(row.request);
  }

  async remove(name: string): Promise<boolean> {
    return this.#rows.delete(name);
  }

  async close(): Promise<void> {}

  #current(lease: ProjectionLease): Row | undefined {
    const row = this.#rows.get(lease.name);
    return row && row.token === lease.token && row.owner === lease.owner ? row : undefined;
  }

  #newRow(name: string, position: string): Row {
    return {
      name,
      position,
      highWater: position,
      status: 'running',
      error: undefined,
      generation: 1,
      shadow: undefined,
      owner: undefined,
      token: 0,
      leaseExpiresAt: undefined,
      request: undefined,
      parkedEvents: [],
      updatedAt: new Date(this.#now()),
    };
  }
}

function toRecord(row: Row): ProjectionRecord {
  const { parkedEvents, ...rest } = row;
  return structuredClone({ ...rest, parked: parkedEvents.length });
}
