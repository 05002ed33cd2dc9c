import { ManualClock } from 'potter/testing';
import { MemorySagaStore, SagaOrchestrator, type SagaEvent } from '../../../src/saga';
import { ManualTimers } from './manual-timers';

/** An orchestrator on a manual clock, recording its events. */
export function setup(options: { random?: () => number } = {}) {
  const clock = new ManualClock(1_000);
  const timers = new ManualTimers(clock);
  const store = new MemorySagaStore({ recordSaves: true });
  const events: SagaEvent[] = [];
  let ids = 0;
  const orchestrator = new SagaOrchestrator({
    store,
    clock,
    timers,
    random: options.random ?? (() => 0.5),
    newId: () => `saga-${++ids}`,
    leaseMs: 3_600_000,
    publish: (event) => {
      events.push(event);
    },
  });
  /** `type` or `type:step` of each event, in order. */
  const trail = (): string[] => events.map((e) => (e.step === undefined ? e.type : `${e.type}:${e.step}`));
  return { clock, timers, store, events, orchestrator, trail };
}

/** A promise that never settles on its own (ignores its signal). */
export function hang(): Promise<never> {
  return new Promise<never>(() => undefined);
}
