import { ManualClock } from 'potter/testing';
import type { LogFields, Logger } from '../../../src/core/logger';
import { MemoryTimerService } from '../../../src/saga/memory-timer-service';
import type { DurableTimer, TimerFiring } from '../../../src/saga';
import { describeTimerServiceContract, gate } from '../../contracts/timer-service.contract';
import { flush, ManualTimers } from './manual-timers';

describeTimerServiceContract('memory', { durable: false }, async () => ({
  create: (options) => new MemoryTimerService(options),
  cleanup: async () => undefined,
}));

describe('MemoryTimerService on manual timers', () => {
  let clock: ManualClock;
  let timers: ManualTimers;
  let service: MemoryTimerService;
  let fired: { timer: DurableTimer; attempt: number; at: number }[];

  const setup = (options: ConstructorParameters<typeof MemoryTimerService>[0] = {}): MemoryTimerService => {
    clock = new ManualClock(10_000);
    timers = new ManualTimers(clock);
    fired = [];
    service = new MemoryTimerService({ clock, timers, ...options });
    return service;
  };
  const record = (timer: DurableTimer, firing: TimerFiring<undefined>): void => {
    fired.push({ timer, attempt: firing.attempt, at: clock.now() });
  };

  afterEach(async () => {
    await service?.stop();
  });

  it('fires exactly at the due time of the clock', async () => {
    setup();
    service.handle('reminder', record);
    await service.schedule({ id: 't-1', kind: 'reminder', dueAt: 11_000, payload: { n: 1 } });
    expect(timers.pending()).toEqual([]); // nothing is armed before start()
    await service.start();
    expect(timers.pending()).toEqual([1000]);

    await timers.advance(999);
    expect(fired).toEqual([]);
    await timers.advance(1);
    expect(fired).toEqual([
      {
        timer: { id: 't-1', kind: 'reminder', dueAt: 11_000, payload: { n: 1 }, attempts: 0 },
        attempt: 1,
        at: 11_000,
      },
    ]);
    expect(await service.get('t-1')).toBeUndefined();
    expect(timers.pending()).toEqual([]);
  });

  it('retries a failing handler with exponential backoff, capped, counting attempts', async () => {
    setup({ retry: { initialDelayMs: 100, multiplier: 2, maxDelayMs: 300, jitter: 'none' } });
    service.handle('flaky', (timer, firing) => {
      record(timer, firing);
      if (firing.attempt < 5) throw new Error(`failure ${firing.attempt}`);
    });
    await service.schedule({ id: 't-1', kind: 'flaky', dueAt: 10_000 });
    await service.start();
    await timers.advance(0);
    expect(fired.map((f) => f.attempt)).toEqual([1]);
    expect(await service.get('t-1')).toEqual({
      id: 't-1',
      kind: 'flaky',
      dueAt: 10_100,
      payload: null,
      attempts: 1,
    });
    expect(timers.pending()).toEqual([100]);

    await timers.advance(99);
    expect(fired).toHaveLength(1);
    await timers.advance(1);
    expect(timers.pending()).toEqual([200]);
    await timers.advance(200);
    expect(timers.pending()).toEqual([300]);
    await timers.advance(300);
    expect(timers.pending()).toEqual([300]); // capped at maxDelayMs
    await timers.advance(300);
    expect(fired.map((f) => [f.attempt, f.timer.attempts, f.at])).toEqual([
      [1, 0, 10_000],
      [2, 1, 10_100],
      [3, 2, 10_300],
      [4, 3, 10_600],
      [5, 4, 10_900],
    ]);
    expect(await service.get('t-1')).toBeUndefined();
    expect(timers.pending()).toEqual([]);
  });

  it('by default retries after 1 s with equal jitter (between 500 and 1000 ms)', async () => {
    setup();
    service.handle('flaky', () => {
      throw new Error('no');
    });
    await service.schedule({ id: 't-1', kind: 'flaky', dueAt: 10_000 });
    await service.start();
    await timers.advance(0);
    const [delay] = timers.pending();
    expect(delay).toBeGreaterThanOrEqual(500);
    expect(delay).toBeLessThanOrEqual(1000);
  });

  it('reports failures to the logger', async () => {
    const warnings: [string, LogFields | undefined][] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (message, fields) => warnings.push([message, fields]),
      error() {},
    };
    setup({ logger, retry: { initialDelayMs: 10, jitter: 'none' } });
    service.handle('flaky', () => {
      throw new Error('boom');
    });
    await service.schedule({ id: 't-1', kind: 'flaky', dueAt: 10_000 });
    await service.start();
    await timers.advance(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[1]).toMatchObject({ timerId: 't-1', kind: 'flaky', attempt: 1, retryInMs: 10 });
  });

  it('re-arms for a sooner timer and forgets cancelled ones', async () => {
    setup();
    service.handle('k', record);
    await service.start();
    await service.schedule({ id: 'late', kind: 'k', dueAt: 15_000 });
    expect(timers.pending()).toEqual([5000]);
    await service.schedule({ id: 'soon', kind: 'k', dueAt: 11_000 });
    expect(timers.pending()).toEqual([1000]);
    expect(await service.cancel('soon')).toBe(true);
    await timers.advance(1000);
    expect(fired).toEqual([]);
    expect(timers.pending()).toEqual([4000]);
    await timers.advance(4000);
    expect(fired.map((f) => [f.timer.id, f.at])).toEqual([['late', 15_000]]);
  });

  it('stop() disarms; start() fires what fell due meanwhile', async () => {
    setup();
    service.handle('k', record);
    await service.start();
    await service.schedule({ id: 't-1', kind: 'k', dueAt: 11_000 });
    await service.stop();
    expect(timers.pending()).toEqual([]);
    await timers.advance(5000);
    expect(fired).toEqual([]);
    await service.start();
    await timers.advance(0);
    expect(fired.map((f) => [f.timer.id, f.at])).toEqual([['t-1', 15_000]]);
  });

  it('fires timers due together concurrently', async () => {
    setup();
    const release = gate();
    let running = 0;
    let maxRunning = 0;
    service.handle('k', async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await release.promise;
      running--;
    });
    await service.schedule({ id: 'a', kind: 'k', dueAt: 10_000 });
    await service.schedule({ id: 'b', kind: 'k', dueAt: 10_000 });
    await service.start();
    await timers.advance(0);
    expect(maxRunning).toBe(2);
    release.open();
    await flush();
    expect(running).toBe(0);
  });

  it('keeps a replacement scheduled while the timer fires, and fires it in turn', async () => {
    setup();
    const release = gate();
    service.handle('k', async (timer, firing) => {
      record(timer, firing);
      if (timer.payload === 1) await release.promise;
    });
    await service.schedule({ id: 't-1', kind: 'k', dueAt: 10_000, payload: 1 });
    await service.start();
    await timers.advance(0);
    await service.schedule({ id: 't-1', kind: 'k', dueAt: 10_000, payload: 2 });
    await flush();
    expect(fired.map((f) => f.timer.payload)).toEqual([1]); // never two firings of one id at once
    release.open();
    await flush();
    await timers.advance(0);
    expect(fired.map((f) => f.timer.payload)).toEqual([1, 2]);
    expect(await service.get('t-1')).toBeUndefined();
  });

  it('stores the payload as JSON: later changes to the object do not reach the timer', async () => {
    setup();
    service.handle('k', record);
    const payload = { when: new Date(0), list: [1] };
    await service.schedule({ id: 't-1', kind: 'k', dueAt: 10_000, payload });
    payload.list.push(2);
    await service.start();
    await timers.advance(0);
    expect(fired[0]?.timer.payload).toEqual({ when: '1970-01-01T00:00:00.000Z', list: [1] });
  });

  it('wakes in steps for timers beyond the longest setTimeout delay', async () => {
    setup();
    service.handle('k', record);
    const max = 2_147_483_647;
    await service.schedule({ id: 'far', kind: 'k', dueAt: 10_000 + max + 1000 });
    await service.start();
    expect(timers.pending(Number.POSITIVE_INFINITY)).toEqual([max]);
    await timers.advance(max);
    expect(fired).toEqual([]);
    expect(timers.pending()).toEqual([1000]);
    await timers.advance(1000);
    expect(fired).toHaveLength(1);
  });

  it('accepts a Date as the due time and rejects payloads that are not JSON', async () => {
    setup();
    await service.schedule({ id: 't-1', kind: 'k', dueAt: new Date(12_345) });
    expect((await service.get('t-1'))?.dueAt).toBe(12_345);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(service.schedule({ id: 't-2', kind: 'k', dueAt: 1, payload: cyclic })).rejects.toMatchObject(
      {
        code: 'POTTER_VALIDATION_FAILED',
      },
    );
  });
});
