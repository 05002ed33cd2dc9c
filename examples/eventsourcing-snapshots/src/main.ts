/**
 * Snapshots: four meters of 5,000 events each, written by apps configured with no snapshots,
 * `Frequency(n)`, `TimeBased(ms)` and `Hybrid([...])`; then each meter is loaded and the load time
 * and the number of events folded are printed. PGlite by default (`.potter/eventsourcing-snapshots`),
 * PostgreSQL when POTTER_POSTGRES_URL is set.
 */
import { performance } from 'node:perf_hooks';
import {
  Frequency,
  Hybrid,
  TimeBased,
  bootstrap,
  describeError,
  repositoryToken,
  type AggregateRepository,
  type EventStore,
  type SnapshotStrategy,
} from 'potter';
import { createAppModule } from './app.module';
import { RecordReadings } from './commands/record-readings.command';
import { CountingSnapshotStore } from './counting-snapshot-store';
import { Meter } from './meter.aggregate';
import { createStores } from './store';

const EVENTS_PER_METER = 5_000;
const READINGS_PER_COMMAND = 200;
const TIMED_LOADS = 5;

/** One way to configure snapshots, and the meter written under it. */
interface Configuration {
  key: string;
  label: string;
  strategy: SnapshotStrategy | undefined;
}

const CONFIGURATIONS: Configuration[] = [
  { key: 'no-snapshots', label: 'no snapshots', strategy: undefined },
  { key: 'frequency', label: 'Frequency(1500)', strategy: Frequency(1_500) },
  { key: 'time-based', label: 'TimeBased(100 ms)', strategy: TimeBased(100) },
  {
    key: 'hybrid',
    label: 'Hybrid([Frequency(2000), TimeBased(250 ms)])',
    strategy: Hybrid([Frequency(2_000), TimeBased(250)]),
  },
];

interface Outcome {
  configuration: Configuration;
  meterId: string;
  writeMs: number;
  snapshots: number;
  snapshotVersion: number | undefined;
  folded: number;
  loadMs: number;
  state: string;
}

async function main(): Promise<void> {
  console.log('Potter event sourcing: snapshots\n');
  const stores = await createStores();
  const snapshotStore = new CountingSnapshotStore(stores.snapshotStore);
  console.log(`Stores: ${stores.description}\n`);

  try {
    const run = await nextRun(stores.eventStore);
    console.log(
      `Writing ${CONFIGURATIONS.length} meters of ${fmt(EVENTS_PER_METER)} events, ${READINGS_PER_COMMAND} readings per command:`,
    );
    const outcomes: Outcome[] = [];
    for (const configuration of CONFIGURATIONS) {
      const app = await bootstrap(createAppModule(stores.eventStore, snapshotStore, configuration.strategy));
      await app.start();
      try {
        const meters = app.resolve(repositoryToken(Meter));
        const meterId = `${configuration.key}-${run}`;
        const started = performance.now();
        for (let sent = 0; sent < EVENTS_PER_METER; sent += READINGS_PER_COMMAND) {
          const readings = Array.from({ length: READINGS_PER_COMMAND }, (_, i) => reading(sent + i));
          await app.commandBus.execute(new RecordReadings(meterId, readings));
        }
        await meters.whenIdle(); // snapshots are written in the background, after each commit
        const writeMs = performance.now() - started;
        const streamId = meters.streamId(meterId);
        const snapshotVersion = configuration.strategy
          ? (await snapshotStore.load(streamId))?.version
          : undefined;
        const snapshots = snapshotStore.writesOf(streamId);
        const latest = snapshotVersion === undefined ? '' : `, latest at v${fmt(snapshotVersion)}`;
        console.log(
          `  ${meterId.padEnd(16)} ${configuration.label.padEnd(44)} written in ${fmtMs(writeMs).padStart(9)}, ${snapshots} snapshot(s)${latest}`,
        );
        outcomes.push({
          configuration,
          meterId,
          writeMs,
          snapshots,
          snapshotVersion,
          ...(await timeLoads(meters, meterId)),
        });
      } finally {
        await app.stop();
      }
    }

    console.log('  (each command loads its meter first: without snapshots, that reads every earlier event)');
    console.log(`\nLoading each meter (median of ${TIMED_LOADS} loads after a warm-up):`);
    console.log(
      `  ${'configuration'.padEnd(44)} ${'loaded from'.padEnd(16)} ${'events folded'.padStart(13)} ${'load'.padStart(9)}`,
    );
    for (const o of outcomes) {
      const from = o.snapshotVersion === undefined ? 'events only' : `snapshot v${fmt(o.snapshotVersion)}`;
      console.log(
        `  ${o.configuration.label.padEnd(44)} ${from.padEnd(16)} ${fmt(o.folded).padStart(13)} ${fmtMs(o.loadMs).padStart(9)}`,
      );
    }
    const baseline = outcomes[0]!;
    for (const o of outcomes.slice(1)) {
      console.log(
        `  ${o.configuration.label}: ${(baseline.loadMs / Math.max(o.loadMs, 0.001)).toFixed(1)}x faster than no snapshots`,
      );
    }
    const states = new Set(outcomes.map((o) => o.state));
    console.log(
      states.size === 1
        ? `\nEvery meter loads to the same state: ${[...states][0]}`
        : `\nUnexpected: the meters load to different states: ${[...states].join(' | ')}`,
    );
  } finally {
    await stores.close();
  }
  console.log('Stores closed');
}

/** Loads the meter once to warm up, then TIMED_LOADS times; the median time and what was folded. */
async function timeLoads(
  meters: AggregateRepository<Meter>,
  meterId: string,
): Promise<{ loadMs: number; folded: number; state: string }> {
  let meter = await meters.load(meterId);
  const times: number[] = [];
  for (let i = 0; i < TIMED_LOADS; i++) {
    const started = performance.now();
    meter = await meters.load(meterId);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    loadMs: times[Math.floor(times.length / 2)]!,
    folded: meter.foldedEvents,
    state: `v${fmt(meter.version)}, ${fmt(meter.readings)} readings, ${fmt(meter.totalKwh)} kWh, peak ${meter.peakKwh} kWh`,
  };
}

/** A deterministic reading in kWh (1 to 13). */
function reading(index: number): number {
  return ((index * 7) % 13) + 1;
}

/** Earlier runs left their meters in the store: this run numbers its meters after them. */
async function nextRun(eventStore: EventStore): Promise<number> {
  for (let run = 1; ; run++) {
    if ((await eventStore.streamInfo(`Meter-${CONFIGURATIONS[0]!.key}-${run}`)) === undefined) return run;
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function fmtMs(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

main().catch((error: unknown) => {
  console.error(`eventsourcing-snapshots failed: ${describeError(error)}`);
  process.exitCode = 1;
});
