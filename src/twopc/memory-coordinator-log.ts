import { systemClock, type Clock } from '../core/clock';
import { ConfigurationError } from '../core/errors';
import { TwoPhaseConflictError, TwoPhaseTransactionNotFoundError } from './errors';
import type {
  CoordinatorLog,
  TwoPhaseDecision,
  TwoPhaseLease,
  TwoPhaseLogOutcome,
  TwoPhaseRecord,
} from './types';

interface Entry {
  txId: string;
  participants: string[];
  decision?: TwoPhaseDecision;
  done: string[];
  completed: boolean;
  owner?: string;
  leaseExpiresAt: number;
  begunAt: number;
  seq: number;
}

/** Options of {@link MemoryCoordinatorLog}. */
export interface MemoryCoordinatorLogOptions {
  /** The clock of leases and ages (a `ManualClock` in tests). @default the system clock */
  clock?: Clock;
}

/** Checks a lease's duration. @internal */
export function checkLease(lease: TwoPhaseLease): void {
  if (typeof lease.owner !== 'string' || lease.owner.length === 0) {
    throw new ConfigurationError('A two-phase lease needs a non-empty owner.', { owner: lease.owner });
  }
  if (!Number.isFinite(lease.leaseMs) || lease.leaseMs <= 0) {
    throw new ConfigurationError('leaseMs must be a positive number of milliseconds.', {
      leaseMs: lease.leaseMs,
    });
  }
}

/**
 * A coordinator log in memory: for tests and single-process use where a crash may lose in-flight
 * transactions (it is not durable). Behaves like the SQL log, with leases and ages on `clock`.
 */
export class MemoryCoordinatorLog implements CoordinatorLog {
  readonly #entries = new Map<string, Entry>();
  readonly #clock: Clock;
  #seq = 0;

  constructor(options: MemoryCoordinatorLogOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async begin(txId: string, participants: readonly string[], lease: TwoPhaseLease): Promise<void> {
    checkLease(lease);
    if (this.#entries.has(txId)) throw new TwoPhaseConflictError(txId);
    const now = this.#clock.now();
    this.#entries.set(txId, {
      txId,
      participants: [...participants],
      done: [],
      completed: false,
      owner: lease.owner,
      leaseExpiresAt: now + lease.leaseMs,
      begunAt: now,
      seq: this.#seq++,
    });
  }

  async decide(txId: string, decision: TwoPhaseDecision): Promise<TwoPhaseDecision> {
    const entry = this.#entry(txId);
    entry.decision ??= decision;
    return entry.decision;
  }

  async markDone(txId: string, participant: string): Promise<void> {
    const entry = this.#entry(txId);
    if (!entry.done.includes(participant)) entry.done.push(participant);
  }

  async complete(txId: string): Promise<void> {
    const entry = this.#entry(txId);
    entry.completed = true;
    entry.owner = undefined;
  }

  async outcome(txId: string): Promise<TwoPhaseLogOutcome> {
    const entry = this.#entries.get(txId);
    return entry === undefined ? 'abort' : (entry.decision ?? 'undecided');
  }

  async get(txId: string): Promise<TwoPhaseRecord | undefined> {
    const entry = this.#entries.get(txId);
    return entry && this.#record(entry);
  }

  async unfinished(): Promise<TwoPhaseRecord[]> {
    return this.#open().map((entry) => this.#record(entry));
  }

  async claim(lease: TwoPhaseLease, limit: number): Promise<TwoPhaseRecord[]> {
    checkLease(lease);
    const now = this.#clock.now();
    const free = this.#open()
      .filter((entry) => entry.owner === undefined || entry.leaseExpiresAt <= now)
      .slice(0, Math.max(0, Math.floor(limit)));
    for (const entry of free) {
      entry.owner = lease.owner;
      entry.leaseExpiresAt = now + lease.leaseMs;
    }
    return free.map((entry) => this.#record(entry));
  }

  async renew(txId: string, lease: TwoPhaseLease): Promise<boolean> {
    checkLease(lease);
    const entry = this.#entry(txId);
    const now = this.#clock.now();
    if (entry.completed) return false;
    if (entry.owner !== lease.owner && entry.owner !== undefined && entry.leaseExpiresAt > now) {
      return false;
    }
    entry.owner = lease.owner;
    entry.leaseExpiresAt = now + lease.leaseMs;
    return true;
  }

  #open(): Entry[] {
    return [...this.#entries.values()]
      .filter((entry) => !entry.completed)
      .sort((a, b) => a.begunAt - b.begunAt || a.seq - b.seq);
  }

  #entry(txId: string): Entry {
    const entry = this.#entries.get(txId);
    if (entry === undefined) throw new TwoPhaseTransactionNotFoundError(txId);
    return entry;
  }

  #record(entry: Entry): TwoPhaseRecord {
    const record: TwoPhaseRecord = {
      txId: entry.txId,
      participants: [...entry.participants],
      done: [...entry.done],
      completed: entry.completed,
      begunAt: entry.begunAt,
      ageMs: this.#clock.now() - entry.begunAt,
    };
    if (entry.decision !== undefined) record.decision = entry.decision;
    if (entry.owner !== undefined) record.owner = entry.owner;
    return record;
  }
}
