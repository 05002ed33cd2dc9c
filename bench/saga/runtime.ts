/**
 * Measuring, shared by the worker (`saga.worker.ts`) and the diagnostic (`write-breakdown.ts`):
 * the store wrapper that counts and times every call, the CPU meter, the run loop.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type { SagaEvent, SagaLease, SagaRenewal, SagaState, SagaStatus, SagaStore } from './potter-saga';
import type { WriteCounts } from './protocol';

/** Counts the persistence calls of a run by kind, and sums their wall time. */
export class WriteMeter {
  counts: WriteCounts = {};
  msByKind: WriteCounts = {};
  ms = 0;

  reset(): void {
    this.counts = {};
    this.msByKind = {};
    this.ms = 0;
  }

  /** Runs `call`, counting it as `kind` and adding its time (also when it fails). */
  async time<T>(kind: string, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } finally {
      const ms = performance.now() - started;
      this.ms += ms;
      this.msByKind[kind] = (this.msByKind[kind] ?? 0) + ms;
      this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    }
  }
}

/** A {@link SagaStore} that passes every call on to `inner`, counted and timed by `meter`. */
export class MeteredSagaStore implements SagaStore {
  constructor(
    private readonly inner: SagaStore,
    private readonly meter: WriteMeter,
  ) {}

  get eventStore(): SagaStore['eventStore'] {
    return this.inner.eventStore;
  }

  create(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    return this.meter.time('create', () => this.inner.create(state, lease, events));
  }
  save(state: SagaState, lease: SagaLease, events?: readonly SagaEvent[]): Promise<void> {
    return this.meter.time('save', () => this.inner.save(state, lease, events));
  }
  load(sagaId: string): Promise<SagaState | undefined> {
    return this.meter.time('load', () => this.inner.load(sagaId));
  }
  list(statuses?: readonly SagaStatus[]): Promise<SagaState[]> {
    return this.meter.time('list', () => this.inner.list(statuses));
  }
  findOpen(sagaName: string, businessKey: string): Promise<SagaState | undefined> {
    return this.meter.time('findOpen', () => this.inner.findOpen(sagaName, businessKey));
  }
  claim(lease: SagaLease, limit: number): Promise<SagaState[]> {
    return this.meter.time('claim', () => this.inner.claim(lease, limit));
  }
  acquire(sagaId: string, lease: SagaLease): Promise<SagaState | undefined> {
    return this.meter.time('acquire', () => this.inner.acquire(sagaId, lease));
  }
  renew(lease: SagaLease, sagaIds: readonly string[]): Promise<SagaRenewal[]> {
    return this.meter.time('renew', () => this.inner.renew(lease, sagaIds));
  }
  release(owner: string, sagaIds: readonly string[]): Promise<void> {
    return this.meter.time('release', () => this.inner.release(owner, sagaIds));
  }
  requestCancel(sagaId: string, reason?: string): Promise<boolean> {
    return this.meter.time('requestCancel', () => this.inner.requestCancel(sagaId, reason));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** CPU time of this process and of the server processes of the variant's connections (from /proc). */
export class CpuMeter {
  readonly #client: Client;
  readonly #applicationName: string;
  readonly #ticksPerSecond: number;
  #readable = true;

  constructor(connectionString: string, applicationName: string) {
    this.#client = new Client({ connectionString, application_name: `${applicationName}_meter` });
    this.#applicationName = applicationName;
    let ticks = 100;
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // keep the usual 100 Hz
    }
    this.#ticksPerSecond = ticks;
  }

  async connect(): Promise<void> {
    await this.#client.connect();
  }

  async sample(): Promise<{ node: NodeJS.CpuUsage; pg: Map<number, number> | null }> {
    return { pg: await this.#backends(), node: process.cpuUsage() };
  }

  async since(before: { node: NodeJS.CpuUsage; pg: Map<number, number> | null }): Promise<{
    nodeCpuMs: number;
    pgCpuMs: number | null;
  }> {
    const node = process.cpuUsage(before.node);
    const after = await this.#backends();
    let pgCpuMs: number | null = null;
    if (before.pg && after && after.size > 0) {
      pgCpuMs = 0;
      for (const [pid, ms] of after) pgCpuMs += ms - (before.pg.get(pid) ?? 0);
    }
    return { nodeCpuMs: (node.user + node.system) / 1000, pgCpuMs };
  }

  close(): Promise<void> {
    return this.#client.end();
  }

  /** CPU ms so far of each server process whose `application_name` is the variant's. */
  async #backends(): Promise<Map<number, number> | null> {
    if (!this.#readable) return null;
    const { rows } = await this.#client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [this.#applicationName],
    );
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ENOENT') continue;
        this.#readable = false;
        return null;
      }
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      cpu.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / this.#ticksPerSecond);
    }
    return cpu;
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * `concurrency` loops, each running one saga after the other until `durationMs` have passed; the
 * sagas running at the deadline are awaited (and counted). Resolves once the last one ended.
 */
export async function drive(
  concurrency: number,
  durationMs: number,
  runOne: (n: number) => Promise<void>,
  numbering: { next: number },
): Promise<{ elapsedMs: number; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const n = numbering.next++;
        const sagaStarted = performance.now();
        await runOne(n);
        latencies.push(performance.now() - sagaStarted);
      }
    }),
  );
  return { elapsedMs: performance.now() - started, latencies };
}
