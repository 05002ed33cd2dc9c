/**
 * Two-phase-commit transactions per second on PostgreSQL: `TwoPhaseCoordinator` with
 * `SqlCoordinatorLog` and 2 or 4 cheap in-memory participants, against the limit — the same log
 * writes sent directly with `pg` (one `INSERT` at begin, an `UPDATE` for the decision, one per
 * participant's confirmation — in parallel, as the coordinator sends them — and one for completion),
 * with the same in-memory participant calls between them. 1 and 16 transactions in flight, rounds
 * interleaved (every variant once per round, the order rotating), median over rounds and
 * same-round ratios Potter / raw. Every run is checked afterwards (every transaction completed,
 * committed on every participant).
 *
 * Knobs: POTTER_POSTGRES_URL, BENCH_ROUNDS (3), BENCH_TIME_MS (3000), BENCH_WARMUP_MS (1000),
 * BENCH_CONCURRENCY ('1,16'), BENCH_PARTICIPANTS ('2,4'), BENCH_POOL_SIZE (10),
 * BENCH_RESULTS_FILE (the JSON of a non-default run; a default run writes bench/results/twopc.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Pool } from 'pg';
import { TwoPhaseCoordinator, type CoordinatorLog, type TwoPhaseParticipant } from 'potter';
import { migrateEventStore, PgSqlClient, SqlCoordinatorLog } from 'potter/postgres';
import { lockBenchRun, packageVersion } from '../eventstore/worker-runtime';

const URL = process.env['POTTER_POSTGRES_URL'] || 'postgres://potter:potter@127.0.0.1:5432/potter';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const TIME_MS = Number(process.env['BENCH_TIME_MS'] ?? 3000);
const WARMUP_MS = Number(process.env['BENCH_WARMUP_MS'] ?? 1000);
const CONCURRENCY = (process.env['BENCH_CONCURRENCY'] ?? '1,16').split(',').map(Number);
const PARTICIPANTS = (process.env['BENCH_PARTICIPANTS'] ?? '2,4').split(',').map(Number);
const POOL_SIZE = Number(process.env['BENCH_POOL_SIZE'] ?? 10);
const SCHEMA = 'bench_twopc';
const DEFAULT_RUN =
  ROUNDS >= 3 &&
  TIME_MS === 3000 &&
  CONCURRENCY.join(',') === '1,16' &&
  PARTICIPANTS.join(',') === '2,4' &&
  POOL_SIZE === 10;
/** bench/results/, from build/bench/twopc/ where this file runs once compiled. */
const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', 'twopc.json');

type System = 'raw' | 'potter';

/** A participant whose state is a Map: the cost of a participant call is (almost) nothing. */
class MemoryParticipant implements TwoPhaseParticipant {
  readonly states = new Map<string, 'prepared' | 'committed' | 'rolled-back'>();
  constructor(readonly name: string) {}
  async prepare(txId: string): Promise<void> {
    this.states.set(txId, 'prepared');
  }
  async commit(txId: string): Promise<void> {
    this.states.set(txId, 'committed');
  }
  async rollback(txId: string): Promise<void> {
    this.states.set(txId, 'rolled-back');
  }
}

/** Counts the log's writes (the calls that change it). */
function counting(log: CoordinatorLog, counts: Record<string, number>): CoordinatorLog {
  const count = <T>(kind: string, value: Promise<T>): Promise<T> => {
    counts[kind] = (counts[kind] ?? 0) + 1;
    return value;
  };
  return {
    begin: (txId, participants, lease) => count('begin', log.begin(txId, participants, lease)),
    decide: (txId, decision) => count('decide', log.decide(txId, decision)),
    markDone: (txId, participant) => count('markDone', log.markDone(txId, participant)),
    complete: (txId) => count('complete', log.complete(txId)),
    outcome: (txId) => log.outcome(txId),
    get: (txId) => log.get(txId),
    unfinished: () => log.unfinished(),
    claim: (lease, limit) => log.claim(lease, limit),
    renew: (txId, lease) => count('renew', log.renew(txId, lease)),
  };
}

interface Run {
  system: System;
  participants: number;
  concurrency: number;
  round: number;
  elapsedMs: number;
  transactions: number;
  latencyMs: { p50: number; p99: number };
  /** Log writes per transaction, by kind. */
  writesPerTx: Record<string, number>;
  /** CPU of this process per transaction, µs. */
  nodeCpuUsPerTx: number;
}

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

let seq = 0;

/** One system's transaction function, over `participants` fresh memory participants. */
function systemOf(
  system: System,
  pool: Pool,
  participantCount: number,
  counts: Record<string, number>,
): { run: (txId: string) => Promise<void>; participants: MemoryParticipant[] } {
  const participants = Array.from({ length: participantCount }, (_, i) => new MemoryParticipant(`p${i}`));
  if (system === 'potter') {
    const log = counting(new SqlCoordinatorLog(new PgSqlClient({ pool }), { schema: SCHEMA }), counts);
    const coordinator = new TwoPhaseCoordinator({ log, participants, prepareTimeoutMs: 10_000 });
    return {
      participants,
      run: async (txId) => {
        const result = await coordinator.execute({ txId });
        if (result.outcome !== 'committed') throw new Error(`${txId} ${result.outcome}`);
      },
    };
  }
  const namesJson = JSON.stringify(participants.map((p) => p.name));
  const query = (kind: string, text: string, values: unknown[]): Promise<unknown> => {
    counts[kind] = (counts[kind] ?? 0) + 1;
    return pool.query(text, values);
  };
  return {
    participants,
    run: async (txId) => {
      await query(
        'begin',
        `INSERT INTO "${SCHEMA}".raw_log (tx_id, participants, owner, lease_expires_at)
         VALUES ($1, $2::jsonb, 'raw', now() + interval '30 seconds')`,
        [txId, namesJson],
      );
      await Promise.all(participants.map((p) => p.prepare(txId)));
      await query(
        'decide',
        `UPDATE "${SCHEMA}".raw_log SET decision = 'commit', decided_at = now() WHERE tx_id = $1`,
        [txId],
      );
      await Promise.all(
        participants.map(async (p) => {
          await p.commit(txId);
          await query(
            'markDone',
            `UPDATE "${SCHEMA}".raw_log SET done = done || jsonb_build_array($2::text) WHERE tx_id = $1`,
            [txId, p.name],
          );
        }),
      );
      await query(
        'complete',
        `UPDATE "${SCHEMA}".raw_log SET completed_at = now(), owner = NULL, lease_expires_at = NULL WHERE tx_id = $1`,
        [txId],
      );
    },
  };
}

async function timedRun(
  system: System,
  pool: Pool,
  participantCount: number,
  concurrency: number,
  durationMs: number,
): Promise<Omit<Run, 'round'>> {
  const counts: Record<string, number> = {};
  const { run, participants } = systemOf(system, pool, participantCount, counts);
  const latencies: number[] = [];
  const ids: string[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const txId = `tx-${++seq}`;
        ids.push(txId);
        const t0 = performance.now();
        await run(txId);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  // Check: every transaction committed on every participant and completed in the log.
  for (const p of participants) {
    for (const txId of ids) {
      if (p.states.get(txId) !== 'committed')
        throw new Error(`${system}: ${txId} not committed on ${p.name}`);
    }
  }
  const table = system === 'potter' ? 'twopc_transactions' : 'raw_log';
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${SCHEMA}".${table} WHERE completed_at IS NOT NULL AND decision = 'commit'`,
  );
  if (Number(rows[0]!.n) !== ids.length)
    throw new Error(`${system}: ${rows[0]!.n} completed of ${ids.length}`);
  latencies.sort((a, b) => a - b);
  return {
    system,
    participants: participantCount,
    concurrency,
    elapsedMs,
    transactions: ids.length,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
    writesPerTx: Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, n / ids.length])),
    nodeCpuUsPerTx: (used.user + used.system) / ids.length,
  };
}

async function truncate(pool: Pool): Promise<void> {
  await pool.query(`TRUNCATE "${SCHEMA}".twopc_transactions, "${SCHEMA}".raw_log`);
}

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const admin = new Client({ connectionString: URL });
  await admin.connect();
  // The PostgreSQL benchmarks' shared lock: they never run (and measure each other) at once.
  await lockBenchRun(admin);
  const pool = new Pool({ connectionString: URL, max: POOL_SIZE });
  const runs: Run[] = [];
  const startedAt = new Date();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    await migrateEventStore(new PgSqlClient({ pool }), { schema: SCHEMA });
    // The baseline's table: the log's own shape and indexes (v8 migration), written by plain statements.
    await admin.query(`CREATE TABLE "${SCHEMA}".raw_log (LIKE "${SCHEMA}".twopc_transactions INCLUDING ALL)`);
    const { rows: version } = await admin.query<{ server_version: string }>('SHOW server_version');
    const systems: System[] = ['raw', 'potter'];
    process.stderr.write('warmup\n');
    for (const system of systems) await timedRun(system, pool, 2, Math.max(...CONCURRENCY), WARMUP_MS);
    await truncate(pool);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const participants of PARTICIPANTS) {
        for (const concurrency of CONCURRENCY) {
          const order = round % 2 === 1 ? systems : [...systems].reverse();
          for (const system of order) {
            const run = await timedRun(system, pool, participants, concurrency, TIME_MS);
            await truncate(pool);
            runs.push({ ...run, round });
            process.stderr.write(
              `round ${round} ${system} p=${participants} c=${concurrency}: ${fmt((run.transactions / run.elapsedMs) * 1000)} tx/s\n`,
            );
          }
        }
      }
    }

    const tps = (r: Run): number => (r.transactions / r.elapsedMs) * 1000;
    const lines: string[] = [];
    const summary: Record<string, unknown>[] = [];
    lines.push(
      `# 2PC on PostgreSQL (${startedAt.toISOString()}, ${ROUNDS} rounds × ${TIME_MS} ms, pool ${POOL_SIZE}, PostgreSQL ${version[0]!.server_version}, node ${process.version}, ${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')})`,
      '',
      '| participants | in flight | raw tx/s (median) | Potter tx/s (median) | Potter / raw | same-round ratios | log writes/tx (Potter; raw) | p50 / p99 ms Potter (raw) | node CPU µs/tx Potter (raw) |',
      '| -: | -: | -: | -: | -: | - | - | - | - |',
    );
    for (const participants of PARTICIPANTS) {
      for (const concurrency of CONCURRENCY) {
        const of = (system: System): Run[] =>
          runs.filter(
            (r) => r.system === system && r.participants === participants && r.concurrency === concurrency,
          );
        const raw = of('raw');
        const potter = of('potter');
        const ratios = potter.map((p) => tps(p) / tps(raw.find((r) => r.round === p.round)!));
        const rawTps = median(raw.map(tps));
        const potterTps = median(potter.map(tps));
        const writes = (list: Run[]): string =>
          fmt(median(list.map((r) => Object.values(r.writesPerTx).reduce((a, b) => a + b, 0))), 1);
        const lat = (list: Run[]): string =>
          `${fmt(median(list.map((r) => r.latencyMs.p50)), 2)} / ${fmt(median(list.map((r) => r.latencyMs.p99)), 1)}`;
        lines.push(
          `| ${participants} | ${concurrency} | ${fmt(rawTps)} | ${fmt(potterTps)} | ${fmt(potterTps / rawTps, 2)}× | ${ratios
            .map((r) => `${fmt(r, 2)}×`)
            .join(', ')} | ${writes(potter)}; ${writes(raw)} | ${lat(potter)} (${lat(raw)}) | ${fmt(
            median(potter.map((r) => r.nodeCpuUsPerTx)),
          )} (${fmt(median(raw.map((r) => r.nodeCpuUsPerTx)))}) |`,
        );
        summary.push({
          participants,
          concurrency,
          rawTps,
          potterTps,
          ratio: potterTps / rawTps,
          sameRoundRatios: ratios,
          potterWritesPerTx: potter[0]?.writesPerTx,
        });
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    const resultsFile = process.env['BENCH_RESULTS_FILE'] || (DEFAULT_RUN ? RESULTS_FILE : undefined);
    if (resultsFile) {
      mkdirSync(join(resultsFile, '..'), { recursive: true });
      const json = {
        benchmark: 'twopc',
        recordedAt: startedAt.toISOString(),
        settings: {
          rounds: ROUNDS,
          timeMs: TIME_MS,
          warmupMs: WARMUP_MS,
          concurrency: CONCURRENCY,
          participants: PARTICIPANTS,
          poolSize: POOL_SIZE,
        },
        environment: {
          node: process.version,
          cpus: cpus().length,
          loadavg: loadavg(),
          postgres: version[0]!.server_version,
          pg: packageVersion('pg'),
        },
        participants: 'in-memory (a Map per participant; no I/O)',
        summary,
        runs,
      };
      writeFileSync(resultsFile, `${JSON.stringify(json, null, 2)}\n`);
      process.stderr.write(`results: ${resultsFile}\n`);
    } else {
      process.stderr.write('not a default run: no JSON written (set BENCH_RESULTS_FILE)\n');
    }
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`).catch(() => undefined);
    await pool.end();
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
