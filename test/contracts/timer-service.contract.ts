import { randomUUID } from 'node:crypto';
import { isPotterError } from '../../src/core/errors';
import type { DurableTimer, TimerFiring, TimerService } from '../../src/saga';
import type { TimerRetryOptions } from '../../src/saga/timer-support';

/** Options the suite gives every service it creates. */
export interface ContractTimerServiceOptions {
  /** The suite relies on this backoff (no jitter) to check retry delays. */
  retry: TimerRetryOptions;
}

/** What a timer-service implementation gives the contract suite. */
export interface TimerServiceFixture<Tx> {
  /**
   * A new service instance, not started, with a short poll interval (≤ 100 ms) where it polls. For a
   * durable implementation every instance works on the same store.
   */
  create(options: ContractTimerServiceOptions): TimerService<Tx>;
  cleanup(): Promise<void>;
}

const WAIT_MS = 10_000;
/** The retry delay of the suite's services. */
const RETRY_MS = 200;
const OPTIONS: ContractTimerServiceOptions = { retry: { initialDelayMs: RETRY_MS, jitter: 'none' } };

/** Polls `predicate` until it holds, failing with `what` after {@link WAIT_MS}. */
export async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function, to block a handler until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** What a handler saw. */
export interface Call {
  timer: DurableTimer;
  attempt: number;
  at: number;
}

/** The behaviour every TimerService implementation must have. */
export function describeTimerServiceContract<Tx>(
  name: string,
  traits: {
    /** True when timers outlive the service instance that scheduled them (SQL): restart tests run. */
    durable: boolean;
  },
  setup: () => Promise<TimerServiceFixture<Tx>>,
): void {
  describe(`TimerService contract: ${name}`, () => {
    let fixture: TimerServiceFixture<Tx>;
    let services: TimerService<Tx>[] = [];
    const run = randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (tag: string): string => `${tag}-${run}-${++counter}`;

    const create = (): TimerService<Tx> => {
      const service = fixture.create(OPTIONS);
      services.push(service);
      return service;
    };

    /** A started service recording every call of a handler for `kind`. */
    const recording = async (
      kind: string,
      behaviour: (timer: DurableTimer, firing: TimerFiring<Tx>) => void | Promise<void> = () => undefined,
    ): Promise<{ service: TimerService<Tx>; calls: Call[] }> => {
      const service = create();
      const calls: Call[] = [];
      service.handle(kind, async (timer, firing) => {
        calls.push({ timer, attempt: firing.attempt, at: Date.now() });
        await behaviour(timer, firing);
      });
      await service.start();
      return { service, calls };
    };

    beforeAll(async () => {
      fixture = await setup();
    }, 60_000);

    afterEach(async () => {
      const stopping = services;
      services = [];
      await Promise.all(stopping.map((service) => service.stop()));
    });

    afterAll(async () => {
      await fixture?.cleanup();
    });

    it('fires a timer at its due time, not before, with its id, kind, payload and attempt 1', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const { service, calls } = await recording(kind);
      const dueAt = Date.now() + 300;
      await service.schedule({
        id,
        kind,
        dueAt: new Date(dueAt),
        payload: { orderId: 'o-1', lines: [1, 2] },
      });
      expect(await service.get(id)).toEqual({
        id,
        kind,
        dueAt,
        payload: { orderId: 'o-1', lines: [1, 2] },
        attempts: 0,
      });

      await eventually('the timer fired', () => calls.length === 1);
      expect(calls[0]?.at).toBeGreaterThanOrEqual(dueAt);
      expect(calls[0]?.at).toBeLessThan(dueAt + 2_000);
      expect(calls[0]?.timer).toEqual({
        id,
        kind,
        dueAt,
        payload: { orderId: 'o-1', lines: [1, 2] },
        attempts: 0,
      });
      expect(calls[0]?.attempt).toBe(1);
      await eventually('the fired timer is gone', async () => (await service.get(id)) === undefined);
      await sleep(300);
      expect(calls).toHaveLength(1);
    });

    it('gives null as the payload of a timer scheduled without one', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const { service, calls } = await recording(kind);
      await service.schedule({ id, kind, dueAt: Date.now() });
      await eventually('the timer fired', () => calls.length === 1);
      expect(calls[0]?.timer.payload).toBeNull();
    });

    it('fires due timers in due order', async () => {
      const kind = unique('kind');
      const service = create();
      const now = Date.now();
      for (const [n, offset] of [3, 1, 2].entries()) {
        await service.schedule({
          id: unique(`timer-${offset}`),
          kind,
          dueAt: now - 1000 + offset,
          payload: n,
        });
      }
      const fired: unknown[] = [];
      service.handle(kind, (timer) => {
        fired.push(timer.payload);
      });
      await service.start();
      await eventually('three timers fired', () => fired.length === 3);
      expect(fired).toEqual([1, 2, 0]);
    });

    it('replaces a timer scheduled again with the same id (due time, payload, attempts)', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const { service, calls } = await recording(kind);
      await service.schedule({ id, kind, dueAt: Date.now() + 60_000, payload: { version: 1 } });
      const dueAt = Date.now() + 150;
      await service.schedule({ id, kind, dueAt, payload: { version: 2 } });
      expect(await service.get(id)).toEqual({ id, kind, dueAt, payload: { version: 2 }, attempts: 0 });

      await eventually('the replaced timer fired', () => calls.length === 1);
      expect(calls[0]?.timer.payload).toEqual({ version: 2 });
      await sleep(300);
      expect(calls).toHaveLength(1);
      expect(await service.get(id)).toBeUndefined();
    });

    it('cancel before the due time: resolves to true and the timer never fires', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const { service, calls } = await recording(kind);
      await service.schedule({ id, kind, dueAt: Date.now() + 200 });
      expect(await service.cancel(id)).toBe(true);
      expect(await service.get(id)).toBeUndefined();
      expect(await service.cancel(id)).toBe(false);
      await sleep(500);
      expect(calls).toHaveLength(0);
    });

    it('cancel of a timer that fired, or never existed, resolves to false', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const { service, calls } = await recording(kind);
      await service.schedule({ id, kind, dueAt: Date.now() });
      await eventually('the timer fired', () => calls.length === 1);
      await eventually('the fired timer is gone', async () => (await service.get(id)) === undefined);
      expect(await service.cancel(id)).toBe(false);
      expect(await service.cancel(unique('never-scheduled'))).toBe(false);
    });

    it('fires a timer whose handler threw again after the backoff, with attempt 2', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const { service, calls } = await recording(kind, (_timer, firing) => {
        if (firing.attempt === 1) throw new Error('not yet');
      });
      await service.schedule({ id, kind, dueAt: Date.now(), payload: 'p' });
      await eventually('the first firing failed and was recorded', async () => {
        const pending = await service.get(id);
        return calls.length >= 1 && pending?.attempts === 1;
      });
      await eventually('the timer fired again', () => calls.length === 2);
      expect(calls.map((call) => [call.attempt, call.timer.attempts, call.timer.payload])).toEqual([
        [1, 0, 'p'],
        [2, 1, 'p'],
      ]);
      const [first, second] = calls as [Call, Call];
      expect(second.at - first.at).toBeGreaterThanOrEqual(RETRY_MS - 20);
      await eventually('the timer is gone', async () => (await service.get(id)) === undefined);
      await sleep(RETRY_MS * 2);
      expect(calls).toHaveLength(2);
    });

    it('keeps timers of a kind without a handler until one is registered', async () => {
      const waitingKind = unique('waiting');
      const otherKind = unique('other');
      const { service, calls } = await recording(otherKind);
      const waiting = unique('timer');
      await service.schedule({ id: waiting, kind: waitingKind, dueAt: Date.now(), payload: 'w' });
      await service.schedule({ id: unique('timer'), kind: otherKind, dueAt: Date.now() });
      await eventually('the handled timer fired', () => calls.length === 1);
      await sleep(300);
      expect(await service.get(waiting)).toMatchObject({ id: waiting, kind: waitingKind, attempts: 0 });

      const fired: DurableTimer[] = [];
      service.handle(waitingKind, (timer) => {
        fired.push(timer);
      });
      await eventually('the waiting timer fired once its handler was registered', () => fired.length === 1);
      expect(fired[0]?.payload).toBe('w');
    });

    it('stop() waits for a firing in progress, which completes', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const release = gate();
      let finished = false;
      const { service, calls } = await recording(kind, async () => {
        await release.promise;
        finished = true;
      });
      await service.schedule({ id, kind, dueAt: Date.now() });
      await eventually('the handler started', () => calls.length === 1);

      let stopped = false;
      const stopping = service.stop().then(() => (stopped = true));
      await sleep(200);
      expect(stopped).toBe(false);
      release.open();
      await stopping;
      expect(finished).toBe(true);
      expect(await service.get(id)).toBeUndefined();
      expect(calls).toHaveLength(1);
    });

    it('fires nothing after stop()', async () => {
      const kind = unique('kind');
      const { service, calls } = await recording(kind);
      await service.stop();
      await service.schedule({ id: unique('timer'), kind, dueAt: Date.now() });
      await sleep(300);
      expect(calls).toHaveLength(0);
      await service.start();
      await eventually('the timer fired after a new start', () => calls.length === 1);
    });

    it('cancel during a firing waits for it: false when it succeeds', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const release = gate();
      let finished = false;
      const { service, calls } = await recording(kind, async () => {
        await release.promise;
        finished = true;
      });
      await service.schedule({ id, kind, dueAt: Date.now() });
      await eventually('the handler started', () => calls.length === 1);

      let finishedWhenCancelResolved: boolean | undefined;
      const cancelling = service.cancel(id).then((result) => {
        finishedWhenCancelResolved = finished;
        return result;
      });
      await sleep(200);
      expect(finishedWhenCancelResolved).toBeUndefined();
      release.open();
      expect(await cancelling).toBe(false);
      expect(finishedWhenCancelResolved).toBe(true);
    });

    it('cancel during a firing that fails waits for it, then cancels the timer (true)', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const release = gate();
      const { service, calls } = await recording(kind, async () => {
        await release.promise;
        throw new Error('failed while a cancel waited');
      });
      await service.schedule({ id, kind, dueAt: Date.now() });
      await eventually('the handler started', () => calls.length === 1);

      const cancelling = service.cancel(id);
      await sleep(100);
      release.open();
      expect(await cancelling).toBe(true);
      expect(await service.get(id)).toBeUndefined();
      await sleep(RETRY_MS * 2);
      expect(calls).toHaveLength(1);
    });

    it('a handler may schedule its own timer again (through firing.tx): it fires again', async () => {
      const kind = unique('kind');
      const id = unique('timer');
      const { service, calls } = await recording(kind, async (timer, firing) => {
        if (timer.payload === 'first') {
          await service.schedule({ id, kind, dueAt: Date.now() + 50, payload: 'second' }, { tx: firing.tx });
        }
      });
      await service.schedule({ id, kind, dueAt: Date.now(), payload: 'first' });
      await eventually('the timer fired twice', () => calls.length === 2);
      expect(calls.map((call) => [call.timer.payload, call.attempt])).toEqual([
        ['first', 1],
        ['second', 1],
      ]);
      await eventually('the timer is gone', async () => (await service.get(id)) === undefined);
    });

    it('start() twice is a no-op: a timer fires once', async () => {
      const kind = unique('kind');
      const { service, calls } = await recording(kind);
      await service.start();
      await Promise.all([service.start(), service.start()]);
      await service.schedule({ id: unique('timer'), kind, dueAt: Date.now() });
      await eventually('the timer fired', () => calls.length === 1);
      await sleep(300);
      expect(calls).toHaveLength(1);
    });

    it('fires timers that fell due before start()', async () => {
      const kind = unique('kind');
      const service = create();
      const id = unique('timer');
      await service.schedule({ id, kind, dueAt: Date.now() - 5_000, payload: 'late' });
      const fired: DurableTimer[] = [];
      service.handle(kind, (timer) => {
        fired.push(timer);
      });
      await sleep(200);
      expect(fired).toHaveLength(0);
      await service.start();
      await eventually('the past-due timer fired', () => fired.length === 1);
      expect(fired[0]?.payload).toBe('late');
    });

    it('rejects a second handler for a kind, and invalid timers', async () => {
      const service = create();
      const kind = unique('kind');
      service.handle(kind, () => undefined);
      expect(() => service.handle(kind, () => undefined)).toThrow(/already has a handler/);
      const invalid = service.schedule({ id: '', kind, dueAt: Number.NaN });
      await expect(invalid).rejects.toMatchObject({ code: 'POTTER_VALIDATION_FAILED' });
      await invalid.catch((error: unknown) => {
        expect(isPotterError(error)).toBe(true);
        expect((error as { violations: { path: string }[] }).violations.map((v) => v.path)).toEqual([
          'id',
          'dueAt',
        ]);
      });
    });

    // Memory timers live in their instance: only durable implementations have this test.
    if (traits.durable) {
      it('survives a restart: a timer scheduled by a stopped instance fires on a new one', async () => {
        const kind = unique('kind');
        const id = unique('timer');
        const first = create();
        const firstCalls: DurableTimer[] = [];
        first.handle(kind, (timer) => {
          firstCalls.push(timer);
        });
        await first.start();
        await first.schedule({ id, kind, dueAt: Date.now() + 300, payload: { survives: true } });
        await first.stop();

        await sleep(400);
        const second = create();
        const secondCalls: DurableTimer[] = [];
        second.handle(kind, (timer) => {
          secondCalls.push(timer);
        });
        expect(await second.get(id)).toMatchObject({ id, payload: { survives: true } });
        await second.start();
        await eventually('the new instance fired the timer', () => secondCalls.length === 1);
        expect(secondCalls[0]?.payload).toEqual({ survives: true });
        expect(firstCalls).toHaveLength(0);
      });
    }
  });
}
