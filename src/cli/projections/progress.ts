import { Presets, SingleBar } from 'cli-progress';
import type { CliIo } from '../cli-io';
import { duration } from './format';

/** Shows how far a rebuild got: a bar on a terminal, else plain lines. */
export interface ProgressReporter {
  /** Before the work starts (waiting for the instance that runs the projection to pick it up). */
  waiting(note: string): void;
  /** `handled` of `total` events done. */
  update(handled: number, total: number): void;
  /** Done (or given up): draws the last state and releases the terminal. */
  stop(): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Shown before the numbers (`rebuild order-summaries`). */
  label: string;
  /** Plain-line mode: at most one line per this many ms (the first and last are always shown). @default 1000 */
  minIntervalMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * A {@link ProgressReporter}: a `cli-progress` bar with handled/total, rate and ETA on
 * `io.progressStream` (a TTY), else one line about every second on `io.err`, so logs and tests
 * see the progress too.
 */
export function createProgress(io: CliIo, options: ProgressOptions): ProgressReporter {
  return io.progressStream ? barProgress(io.progressStream, options) : lineProgress(io, options);
}

function barProgress(stream: NodeJS.WriteStream, options: ProgressOptions): ProgressReporter {
  const bar = new SingleBar(
    {
      stream,
      format: `${options.label} [{bar}] {percentage}% | {value}/{total} events | ETA {eta_formatted} {note}`,
      hideCursor: true,
      etaBuffer: 50,
      fps: 10,
    },
    Presets.shades_classic,
  );
  let started = false;
  let last = { handled: 0, total: 0 };
  return {
    waiting(note) {
      if (!started) {
        bar.start(Math.max(1, last.total), 0, { note });
        started = true;
      } else bar.update({ note });
    },
    update(handled, total) {
      last = { handled, total };
      if (!started) {
        bar.start(Math.max(1, total), handled, { note: '' });
        started = true;
        return;
      }
      bar.setTotal(Math.max(1, total));
      bar.update(handled, { note: '' });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function lineProgress(io: CliIo, options: ProgressOptions): ProgressReporter {
  const now = options.now ?? Date.now;
  const minInterval = options.minIntervalMs ?? 1000;
  let lastLine = -Infinity;
  let lastNote: string | undefined;
  let firstWork: { at: number; handled: number } | undefined;
  let latest: { handled: number; total: number } | undefined;
  let shown: string | undefined;
  let pending = false;
  let shownCounts: { handled: number; total: number } | undefined;
  const line = (handled: number, total: number): string => {
    const percent = total > 0 ? Math.floor((handled / total) * 100) : 100;
    let text = `${options.label}: ${handled}/${total} events (${percent}%)`;
    if (firstWork) {
      const seconds = (now() - firstWork.at) / 1000;
      const rate = seconds > 0 ? (handled - firstWork.handled) / seconds : 0;
      if (rate > 0) {
        text += `, ${Math.round(rate)} events/s`;
        if (handled < total) text += `, ETA ${duration(((total - handled) / rate) * 1000)}`;
      }
    }
    return text;
  };
  const emit = (text: string): void => {
    if (text === shown) return;
    io.err(text);
    shown = text;
    lastLine = now();
  };
  return {
    waiting(note) {
      if (note === lastNote) return;
      lastNote = note;
      emit(`${options.label}: ${note}`);
    },
    update(handled, total) {
      const first = latest === undefined;
      latest = { handled, total };
      firstWork ??= { at: now(), handled };
      if (shownCounts?.handled === handled && shownCounts.total === total) {
        pending = false;
        return;
      }
      pending = true;
      if (first || now() - lastLine >= minInterval) {
        emit(line(handled, total));
        shownCounts = { handled, total };
        pending = false;
      }
    },
    stop() {
      if (latest && pending) emit(line(latest.handled, latest.total));
      shownCounts = latest;
      pending = false;
    },
  };
}
