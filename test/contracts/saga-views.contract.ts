import fc from 'fast-check';
// The saga modules themselves, not the barrel (which loads the orchestrator and its decorators).
import { SagaQueryError } from '../../src/saga/errors';
import type { RecordedSagaEvent } from '../../src/saga/saga-event-log';
import {
  SAGA_STATUSES,
  type ListSagasQuery,
  type SagaHistoryEntry,
  type SagaView,
  type SagaViewStore,
} from '../../src/saga/monitoring/saga-view';
import type { SagaErrorInfo, SagaEventType, SagaStatus } from '../../src/saga/types';

/** What a SagaViewStore adapter gives the contract suite. */
export interface SagaViewStoreFixture {
  views: SagaViewStore;
  cleanup(): Promise<void>;
}

/** Options of the contract suite. */
export interface SagaViewStoreContractOptions {
  /** Runs of the paging property (keep it modest on SQL backends: every run writes a fresh set). */
  numRuns: number;
}

/** A base time: 2023-11-14T22:13:20Z. */
export const T0 = 1_700_000_000_000;

/** Fields of one saga event (without the saga's identity and its `seq`). */
export interface EventFields {
  status: SagaStatus;
  at: number;
  step?: string;
  attempt?: number;
  willRetry?: boolean;
  error?: SagaErrorInfo;
  businessKey?: string;
  startedAt?: number;
}

/**
 * Writes the recorded events of one saga, numbered 1, 2, … as its stream would: `saga.event(type,
 * fields)` returns the next event (and keeps it in `events`).
 */
export class SagaScript {
  readonly events: RecordedSagaEvent[] = [];

  constructor(
    readonly sagaId: string,
    readonly sagaName = 'order',
    readonly correlationId = `corr-${sagaId}`,
  ) {}

  event(type: SagaEventType, fields: EventFields): RecordedSagaEvent {
    const event: RecordedSagaEvent = {
      type,
      sagaId: this.sagaId,
      sagaName: this.sagaName,
      correlationId: this.correlationId,
      ...fields,
      seq: this.events.length + 1,
    };
    this.events.push(event);
    return event;
  }
}

/** Applies `events` in order. */
export async function applyAll(views: SagaViewStore, events: readonly RecordedSagaEvent[]): Promise<void> {
  for (const event of events) await views.apply(event);
}

const declined: SagaErrorInfo = { name: 'PaymentDeclinedError', message: 'declined', code: 'PAY_DECLINED' };
const timeout: SagaErrorInfo = { name: 'TimeoutError', message: 'no answer in 400 ms' };
const refundDown: SagaErrorInfo = { name: 'Error', message: 'refund service down' };

/** started → reserve (ok) → charge (timeout, retried, ok) → ship (skipped) → completed. */
function completedScript(id: string): SagaScript {
  const s = new SagaScript(id, 'order', 'corr-1');
  s.event('saga.started', { status: 'running', at: T0, businessKey: 'ord-1' });
  s.event('saga.step.started', { status: 'running', at: T0 + 10, step: 'reserve', attempt: 1 });
  s.event('saga.step.completed', { status: 'running', at: T0 + 30, step: 'reserve', attempt: 1 });
  s.event('saga.step.started', { status: 'running', at: T0 + 40, step: 'charge', attempt: 1 });
  s.event('saga.step.failed', {
    status: 'running',
    at: T0 + 440,
    step: 'charge',
    attempt: 1,
    willRetry: true,
    error: timeout,
  });
  s.event('saga.step.started', { status: 'running', at: T0 + 640, step: 'charge', attempt: 2 });
  s.event('saga.step.completed', { status: 'running', at: T0 + 690, step: 'charge', attempt: 2 });
  s.event('saga.step.skipped', { status: 'running', at: T0 + 700, step: 'gift-wrap' });
  s.event('saga.completed', { status: 'completed', at: T0 + 710 });
  return s;
}

/** started → reserve (ok) → charge fails for good → compensation of reserve (retried) → … */
function failingScript(id: string): SagaScript {
  const s = new SagaScript(id, 'order', 'corr-2');
  s.event('saga.started', { status: 'running', at: T0 });
  s.event('saga.step.started', { status: 'running', at: T0 + 10, step: 'reserve', attempt: 1 });
  s.event('saga.step.completed', { status: 'running', at: T0 + 20, step: 'reserve', attempt: 1 });
  s.event('saga.step.started', { status: 'running', at: T0 + 30, step: 'charge', attempt: 1 });
  s.event('saga.step.failed', {
    status: 'running',
    at: T0 + 45,
    step: 'charge',
    attempt: 1,
    willRetry: false,
    error: declined,
  });
  s.event('saga.failed', { status: 'compensating', at: T0 + 50, error: declined });
  s.event('saga.compensation.started', { status: 'compensating', at: T0 + 60, step: 'reserve', attempt: 1 });
  s.event('saga.compensation.failed', {
    status: 'compensating',
    at: T0 + 65,
    step: 'reserve',
    attempt: 1,
    willRetry: true,
    error: refundDown,
  });
  s.event('saga.compensation.started', { status: 'compensating', at: T0 + 100, step: 'reserve', attempt: 2 });
  return s;
}

/** Expects `promise` to reject with a SagaQueryError (code POTTER_SAGA_INVALID_QUERY). */
export async function expectQueryError(promise: Promise<unknown>): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(SagaQueryError);
  expect(error).toMatchObject({ code: 'POTTER_SAGA_INVALID_QUERY' });
}

/** The contract every SagaViewStore adapter must pass. */
export function describeSagaViewStoreContract(
  name: string,
  factory: () => Promise<SagaViewStoreFixture>,
  options: SagaViewStoreContractOptions,
): void {
  describe(`SagaViewStore contract: ${name}`, () => {
    let views: SagaViewStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ views, cleanup } = await factory()));
    afterEach(() => cleanup());

    describe('apply and get', () => {
      it('knows nothing of an unknown saga', async () => {
        await expect(views.get('nope')).resolves.toBeUndefined();
        await expect(views.history('nope')).resolves.toEqual([]);
        await expect(views.list()).resolves.toEqual({ items: [] });
      });

      it('shows a started saga', async () => {
        const s = new SagaScript('s1', 'order', 'corr-x');
        await views.apply(s.event('saga.started', { status: 'running', at: T0, businessKey: 'ord-9' }));
        await expect(views.get('s1')).resolves.toEqual({
          sagaId: 's1',
          sagaName: 'order',
          status: 'running',
          correlationId: 'corr-x',
          businessKey: 'ord-9',
          attempts: {},
          compensationAttempts: {},
          completedSteps: [],
          skippedSteps: [],
          compensatedSteps: [],
          steps: {},
          startedAt: T0,
          updatedAt: T0,
          version: 1,
        } satisfies SagaView);
      });

      it('takes the start time from the saga’s creation (startedAt) when saga.started carries it', async () => {
        const s = new SagaScript('s1');
        s.event('saga.started', { status: 'running', at: T0 + 50, startedAt: T0 });
        s.event('saga.completed', { status: 'completed', at: T0 + 80 });
        await applyAll(views, s.events);
        await expect(views.get('s1')).resolves.toMatchObject({
          startedAt: T0,
          updatedAt: T0 + 80,
          finishedAt: T0 + 80,
          durationMs: 80,
        });
        await expect(views.list({ startedBefore: T0 + 1 })).resolves.toMatchObject({
          items: [{ sagaId: 's1' }],
        });
      });

      it('is idempotent: the same event again, or an older one, changes nothing (view nor history)', async () => {
        const s = completedScript('s1');
        const [first, second, third] = s.events as [RecordedSagaEvent, RecordedSagaEvent, RecordedSagaEvent];
        await applyAll(views, [first, second, third]);
        const view = await views.get('s1');
        const history = await views.history('s1');
        await views.apply(third);
        await views.apply(second);
        await views.apply(first);
        // An older seq carrying different data is ignored too.
        await views.apply({ ...second, status: 'failed', at: T0 + 99_999, step: 'other' });
        await expect(views.get('s1')).resolves.toEqual(view);
        await expect(views.history('s1')).resolves.toEqual(history);
        expect(history.map((entry) => entry.seq)).toEqual([1, 2, 3]);
        expect(view?.version).toBe(3);
      });

      it('follows a saga that completes, with a retried step and a skipped one', async () => {
        const s = completedScript('s1');
        await applyAll(views, s.events);
        await expect(views.get('s1')).resolves.toEqual({
          sagaId: 's1',
          sagaName: 'order',
          status: 'completed',
          correlationId: 'corr-1',
          businessKey: 'ord-1',
          attempts: { reserve: 1, charge: 2 },
          compensationAttempts: {},
          completedSteps: ['reserve', 'charge'],
          skippedSteps: ['gift-wrap'],
          compensatedSteps: [],
          steps: {
            reserve: {
              status: 'completed',
              firstSeq: 2,
              attempts: 1,
              compensationAttempts: 0,
              startedAt: T0 + 10,
              finishedAt: T0 + 30,
              durationMs: 20,
            },
            charge: {
              status: 'completed',
              firstSeq: 4,
              attempts: 2,
              compensationAttempts: 0,
              startedAt: T0 + 640,
              finishedAt: T0 + 690,
              durationMs: 50,
              lastError: { ...timeout, step: 'charge', at: T0 + 440 },
            },
            'gift-wrap': {
              status: 'skipped',
              firstSeq: 8,
              attempts: 0,
              compensationAttempts: 0,
              finishedAt: T0 + 700,
            },
          },
          lastError: { ...timeout, step: 'charge', at: T0 + 440 },
          startedAt: T0,
          updatedAt: T0 + 710,
          finishedAt: T0 + 710,
          durationMs: 710,
          version: 9,
        } satisfies SagaView);
      });

      it('shows the step in progress and a retry pending while the saga runs', async () => {
        const s = completedScript('s1');
        await applyAll(views, s.events.slice(0, 5));
        const view = (await views.get('s1'))!;
        expect(view).toMatchObject({
          status: 'running',
          currentStep: 'charge',
          attempts: { reserve: 1, charge: 1 },
          completedSteps: ['reserve'],
          lastError: { ...timeout, step: 'charge', at: T0 + 440 },
          updatedAt: T0 + 440,
          version: 5,
        });
        // A failure that will be retried leaves the step running.
        expect(view.steps.charge).toEqual({
          status: 'running',
          firstSeq: 4,
          attempts: 1,
          compensationAttempts: 0,
          startedAt: T0 + 40,
          lastError: { ...timeout, step: 'charge', at: T0 + 440 },
        });
        expect(view.finishedAt).toBeUndefined();
        expect(view.durationMs).toBeUndefined();
      });

      it('follows a failed step into compensation, then compensated', async () => {
        const s = failingScript('s2');
        await applyAll(views, s.events);
        const compensating = (await views.get('s2'))!;
        expect(compensating).toMatchObject({
          status: 'compensating',
          currentStep: 'reserve',
          // Why it failed: the step's error (saga.failed repeats it, naming no step).
          error: { ...declined, step: 'charge', at: T0 + 50 },
          attempts: { reserve: 1, charge: 1 },
          compensationAttempts: { reserve: 2 },
          completedSteps: ['reserve'],
          compensatedSteps: [],
          lastError: { ...refundDown, step: 'reserve', at: T0 + 65 },
        });
        expect(compensating.steps.charge).toEqual({
          status: 'failed',
          firstSeq: 4,
          attempts: 1,
          compensationAttempts: 0,
          startedAt: T0 + 30,
          lastError: { ...declined, step: 'charge', at: T0 + 45 },
        });
        expect(compensating.steps.reserve).toMatchObject({
          status: 'compensating',
          attempts: 1,
          compensationAttempts: 2,
          startedAt: T0 + 100,
        });
        expect(compensating.finishedAt).toBeUndefined();

        await views.apply(
          s.event('saga.compensation.completed', {
            status: 'compensating',
            at: T0 + 130,
            step: 'reserve',
            attempt: 2,
          }),
        );
        await views.apply(
          s.event('saga.compensated', { status: 'compensated', at: T0 + 140, error: declined }),
        );
        const view = (await views.get('s2'))!;
        expect(view).toMatchObject({
          status: 'compensated',
          compensatedSteps: ['reserve'],
          completedSteps: ['reserve'],
          error: { ...declined, step: 'charge', at: T0 + 50 },
          updatedAt: T0 + 140,
          finishedAt: T0 + 140,
          durationMs: 140,
          version: 11,
        });
        // saga.compensated repeats the failure reason: not a new error, and not one of the step
        // being compensated. The latest error stays the compensation's.
        expect(view.lastError).toEqual({ ...refundDown, step: 'reserve', at: T0 + 65 });
        expect(view.currentStep).toBeUndefined();
        expect(view.steps.reserve).toEqual({
          status: 'compensated',
          firstSeq: 2,
          attempts: 1,
          compensationAttempts: 2,
          startedAt: T0 + 100,
          finishedAt: T0 + 130,
          durationMs: 30,
          lastError: { ...refundDown, step: 'reserve', at: T0 + 65 },
        });
      });

      it('keeps a saga whose compensation failed open, then settles it when resolved', async () => {
        const s = failingScript('s3');
        s.event('saga.compensation.failed', {
          status: 'compensating',
          at: T0 + 150,
          step: 'reserve',
          attempt: 2,
          willRetry: false,
          error: refundDown,
        });
        s.event('saga.compensation_failed', {
          status: 'compensation_failed',
          at: T0 + 151,
          step: 'reserve',
          error: refundDown,
        });
        await applyAll(views, s.events);
        const failed = (await views.get('s3'))!;
        expect(failed).toMatchObject({
          status: 'compensation_failed',
          currentStep: 'reserve',
          compensationAttempts: { reserve: 2 },
          compensatedSteps: [],
          error: { ...declined, step: 'charge', at: T0 + 50 },
          lastError: { ...refundDown, step: 'reserve', at: T0 + 151 },
          updatedAt: T0 + 151,
          version: 11,
        });
        expect(failed.steps.reserve?.status).toBe('compensation_failed');
        // compensation_failed is open (it waits for an operator): no end time yet.
        expect(failed.finishedAt).toBeUndefined();
        expect(failed.durationMs).toBeUndefined();

        await views.apply(s.event('saga.resolved', { status: 'resolved', at: T0 + 5_000 }));
        const resolved = (await views.get('s3'))!;
        expect(resolved).toMatchObject({
          status: 'resolved',
          finishedAt: T0 + 5_000,
          durationMs: 5_000,
          lastError: { ...refundDown, step: 'reserve', at: T0 + 151 },
          version: 12,
        });
        expect(resolved.currentStep).toBeUndefined();
      });

      it('keeps the failed step as the current step of a saga that failed with nothing to undo', async () => {
        const s = new SagaScript('s4');
        s.event('saga.started', { status: 'running', at: T0 });
        s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'reserve', attempt: 1 });
        s.event('saga.step.failed', {
          status: 'running',
          at: T0 + 3,
          step: 'reserve',
          attempt: 1,
          willRetry: false,
          error: declined,
        });
        s.event('saga.failed', { status: 'failed', at: T0 + 4, error: declined });
        await applyAll(views, s.events);
        await expect(views.get('s4')).resolves.toMatchObject({
          status: 'failed',
          currentStep: 'reserve',
          completedSteps: [],
          error: { ...declined, step: 'reserve', at: T0 + 4 },
          lastError: { ...declined, step: 'reserve', at: T0 + 3 },
          finishedAt: T0 + 4,
          durationMs: 4,
        });
      });

      it('tracks parallel steps each on its own', async () => {
        const s = new SagaScript('s5');
        s.event('saga.started', { status: 'running', at: T0 });
        s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'hotel', attempt: 1 });
        s.event('saga.step.started', { status: 'running', at: T0 + 2, step: 'flight', attempt: 1 });
        s.event('saga.step.started', { status: 'running', at: T0 + 3, step: 'car', attempt: 1 });
        s.event('saga.step.completed', { status: 'running', at: T0 + 20, step: 'flight', attempt: 1 });
        s.event('saga.step.failed', {
          status: 'running',
          at: T0 + 25,
          step: 'car',
          attempt: 1,
          willRetry: true,
          error: timeout,
        });
        s.event('saga.step.completed', { status: 'running', at: T0 + 31, step: 'hotel', attempt: 1 });
        s.event('saga.step.started', { status: 'running', at: T0 + 40, step: 'car', attempt: 2 });
        await applyAll(views, s.events);
        const view = (await views.get('s5'))!;
        expect(view.completedSteps).toEqual(['flight', 'hotel']);
        expect(view.attempts).toEqual({ hotel: 1, flight: 1, car: 2 });
        expect(view.currentStep).toBe('car');
        expect(view.steps).toEqual({
          hotel: {
            status: 'completed',
            firstSeq: 2,
            attempts: 1,
            compensationAttempts: 0,
            startedAt: T0 + 1,
            finishedAt: T0 + 31,
            durationMs: 30,
          },
          flight: {
            status: 'completed',
            firstSeq: 3,
            attempts: 1,
            compensationAttempts: 0,
            startedAt: T0 + 2,
            finishedAt: T0 + 20,
            durationMs: 18,
          },
          car: {
            status: 'running',
            firstSeq: 4,
            attempts: 2,
            compensationAttempts: 0,
            startedAt: T0 + 40,
            lastError: { ...timeout, step: 'car', at: T0 + 25 },
          },
        });
      });

      it('returns copies: changing a returned view or history changes nothing stored', async () => {
        await applyAll(views, completedScript('s1').events);
        const view = (await views.get('s1')) as unknown as {
          completedSteps: string[];
          attempts: Record<string, number>;
        };
        view.completedSteps.push('mutated');
        view.attempts.reserve = 99;
        const history = (await views.history('s1')) as { step?: string }[];
        history[1]!.step = 'mutated';
        const again = (await views.get('s1'))!;
        expect(again.completedSteps).toEqual(['reserve', 'charge']);
        expect(again.attempts.reserve).toBe(1);
        expect((await views.history('s1'))[1]!.step).toBe('reserve');
      });
    });

    describe('history', () => {
      it('lists every event oldest first, with the status after it and each attempt’s duration', async () => {
        await applyAll(views, failingScript('s2').events);
        await expect(views.history('s2')).resolves.toEqual([
          { seq: 1, type: 'saga.started', status: 'running', at: T0 },
          { seq: 2, type: 'saga.step.started', status: 'running', step: 'reserve', attempt: 1, at: T0 + 10 },
          {
            seq: 3,
            type: 'saga.step.completed',
            status: 'running',
            step: 'reserve',
            attempt: 1,
            at: T0 + 20,
            durationMs: 10,
          },
          { seq: 4, type: 'saga.step.started', status: 'running', step: 'charge', attempt: 1, at: T0 + 30 },
          {
            seq: 5,
            type: 'saga.step.failed',
            status: 'running',
            step: 'charge',
            attempt: 1,
            willRetry: false,
            error: declined,
            at: T0 + 45,
            durationMs: 15,
          },
          { seq: 6, type: 'saga.failed', status: 'compensating', error: declined, at: T0 + 50 },
          {
            seq: 7,
            type: 'saga.compensation.started',
            status: 'compensating',
            step: 'reserve',
            attempt: 1,
            at: T0 + 60,
          },
          {
            seq: 8,
            type: 'saga.compensation.failed',
            status: 'compensating',
            step: 'reserve',
            attempt: 1,
            willRetry: true,
            error: refundDown,
            at: T0 + 65,
            durationMs: 5,
          },
          {
            seq: 9,
            type: 'saga.compensation.started',
            status: 'compensating',
            step: 'reserve',
            attempt: 2,
            at: T0 + 100,
          },
        ] satisfies SagaHistoryEntry[]);
      });

      it('times each attempt of a retried step from its own start', async () => {
        await applyAll(views, completedScript('s1').events);
        const history = await views.history('s1');
        expect(history.filter((entry) => entry.step === 'charge').map((e) => [e.type, e.durationMs])).toEqual(
          [
            ['saga.step.started', undefined],
            ['saga.step.failed', 400],
            ['saga.step.started', undefined],
            ['saga.step.completed', 50],
          ],
        );
        // A skipped step has no duration.
        expect(history.find((entry) => entry.type === 'saga.step.skipped')).toEqual({
          seq: 8,
          type: 'saga.step.skipped',
          status: 'running',
          step: 'gift-wrap',
          at: T0 + 700,
        });
      });

      it('pages with after and limit', async () => {
        await applyAll(views, completedScript('s1').events);
        const seqs = async (query: { after?: number; limit?: number }): Promise<number[]> =>
          (await views.history('s1', query)).map((entry) => entry.seq);
        await expect(seqs({ limit: 4 })).resolves.toEqual([1, 2, 3, 4]);
        await expect(seqs({ after: 4, limit: 4 })).resolves.toEqual([5, 6, 7, 8]);
        await expect(seqs({ after: 8, limit: 4 })).resolves.toEqual([9]);
        await expect(seqs({ after: 9 })).resolves.toEqual([]);
        await expect(seqs({})).resolves.toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      });

      it('keeps the histories of sagas apart', async () => {
        await applyAll(views, completedScript('s1').events);
        await applyAll(views, failingScript('s2').events);
        expect(await views.history('s1')).toHaveLength(9);
        expect(await views.history('s2')).toHaveLength(9);
        expect((await views.history('s2'))[5]!.type).toBe('saga.failed');
      });

      it('refuses a bad after or limit (SagaQueryError)', async () => {
        for (const query of [
          { after: -1 },
          { after: 1.5 },
          { limit: 0 },
          { limit: 10_001 },
          { limit: 2.5 },
        ]) {
          await expectQueryError(views.history('s1', query));
        }
      });
    });

    describe('list', () => {
      /** Sagas for the filter tests: names, statuses, keys and times vary. */
      async function seed(): Promise<void> {
        const sagas: [string, string, SagaStatus, string, string | undefined, number, number][] = [
          // id, name, final status, correlation id, business key, startedAt, updatedAt
          ['a', 'order', 'completed', 'c-1', 'k-1', T0 + 100, T0 + 900],
          ['b', 'order', 'compensated', 'c-1', 'k-2', T0 + 200, T0 + 300],
          ['c', 'refund', 'running', 'c-2', undefined, T0 + 300, T0 + 400],
          ['d', 'refund', 'compensation_failed', 'c-3', 'k-1', T0 + 400, T0 + 1_000],
          ['e', 'shipping', 'failed', 'c-2', undefined, T0 + 500, T0 + 600],
          ['f', 'order', 'running', 'c-4', 'k-3', T0 + 600, T0 + 600],
        ];
        for (const [id, sagaName, status, correlationId, businessKey, startedAt, updatedAt] of sagas) {
          const s = new SagaScript(id, sagaName, correlationId);
          s.event('saga.started', {
            status: 'running',
            at: startedAt,
            ...(businessKey === undefined ? {} : { businessKey }),
          });
          if (updatedAt !== startedAt) s.event(typeFor(status), { status, at: updatedAt });
          await applyAll(views, s.events);
        }
      }
      const ids = async (query: ListSagasQuery): Promise<string[]> => {
        const page = await views.list({ limit: 1000, ...query });
        expect(page.nextCursor).toBeUndefined();
        return page.items.map((view) => view.sagaId);
      };

      it('lists every saga, newest first by default', async () => {
        await seed();
        await expect(ids({})).resolves.toEqual(['f', 'e', 'd', 'c', 'b', 'a']);
        const page = await views.list();
        expect(page.items[0]).toEqual(await views.get('f'));
      });

      it('filters by saga name: one, or several', async () => {
        await seed();
        await expect(ids({ sagaName: 'order' })).resolves.toEqual(['f', 'b', 'a']);
        await expect(ids({ sagaName: ['refund', 'shipping'] })).resolves.toEqual(['e', 'd', 'c']);
        await expect(ids({ sagaName: ['nope'] })).resolves.toEqual([]);
        await expect(ids({ sagaName: [] })).resolves.toEqual([]);
      });

      it('filters by status: one, or several', async () => {
        await seed();
        await expect(ids({ status: 'running' })).resolves.toEqual(['f', 'c']);
        await expect(ids({ status: ['compensated', 'compensation_failed', 'failed'] })).resolves.toEqual([
          'e',
          'd',
          'b',
        ]);
        await expect(ids({ status: 'pending' })).resolves.toEqual([]);
      });

      it('filters by correlation id and business key', async () => {
        await seed();
        await expect(ids({ correlationId: 'c-2' })).resolves.toEqual(['e', 'c']);
        await expect(ids({ businessKey: 'k-1' })).resolves.toEqual(['d', 'a']);
        await expect(ids({ businessKey: 'k-1', sagaName: 'order' })).resolves.toEqual(['a']);
        await expect(ids({ correlationId: 'nope' })).resolves.toEqual([]);
      });

      it('filters by the step a saga failed at (list and counts)', async () => {
        const failAt = async (id: string, step: string | undefined, at: number): Promise<void> => {
          const s = new SagaScript(id, id === 'p3' ? 'refund' : 'order');
          s.event('saga.started', { status: 'running', at });
          if (step !== undefined) {
            s.event('saga.step.started', { status: 'running', at: at + 1, step, attempt: 1 });
            s.event('saga.step.failed', {
              status: 'running',
              at: at + 2,
              step,
              attempt: 1,
              willRetry: false,
              error: declined,
            });
            s.event('saga.failed', { status: 'compensating', at: at + 3, error: declined });
            s.event('saga.compensated', { status: 'compensated', at: at + 4, error: declined });
          } else {
            s.event('saga.completed', { status: 'completed', at: at + 1 });
          }
          await applyAll(views, s.events);
        };
        await failAt('p1', 'charge', T0);
        await failAt('p2', 'ship', T0 + 10);
        await failAt('p3', 'charge', T0 + 20);
        await failAt('p4', undefined, T0 + 30);
        await expect(views.get('p1')).resolves.toMatchObject({ error: { step: 'charge' } });
        await expect(ids({ failedStep: 'charge' })).resolves.toEqual(['p3', 'p1']);
        await expect(ids({ failedStep: 'charge', sagaName: 'order' })).resolves.toEqual(['p1']);
        await expect(ids({ failedStep: 'ship' })).resolves.toEqual(['p2']);
        await expect(ids({ failedStep: 'reserve' })).resolves.toEqual([]);
        await expect(views.counts({ failedStep: 'charge' })).resolves.toMatchObject({ compensated: 2 });
        await expect(views.countsByType({ failedStep: 'charge' })).resolves.toEqual({
          order: expect.objectContaining({ compensated: 1 }),
          refund: expect.objectContaining({ compensated: 1 }),
        });
        await expect(views.list({ failedStep: 3 as unknown as string })).rejects.toBeInstanceOf(
          SagaQueryError,
        );
      });

      it('filters by start time: after is inclusive, before exclusive; a Date or ms', async () => {
        await seed();
        await expect(ids({ startedAfter: T0 + 300 })).resolves.toEqual(['f', 'e', 'd', 'c']);
        await expect(ids({ startedAfter: new Date(T0 + 300) })).resolves.toEqual(['f', 'e', 'd', 'c']);
        await expect(ids({ startedBefore: T0 + 300 })).resolves.toEqual(['b', 'a']);
        await expect(ids({ startedBefore: new Date(T0 + 300) })).resolves.toEqual(['b', 'a']);
        await expect(ids({ startedAfter: T0 + 200, startedBefore: new Date(T0 + 500) })).resolves.toEqual([
          'd',
          'c',
          'b',
        ]);
        await expect(ids({ startedAfter: T0 + 500, startedBefore: T0 + 500 })).resolves.toEqual([]);
      });

      it('takes a fractional number of ms as a bound (a clock with sub-ms precision)', async () => {
        await seed();
        await expect(ids({ startedAfter: T0 + 299.5 })).resolves.toEqual(['f', 'e', 'd', 'c']);
        await expect(ids({ startedBefore: T0 + 300.5 })).resolves.toEqual(['c', 'b', 'a']);
        await expect(ids({ updatedAfter: T0 + 899.25, updatedBefore: T0 + 900.75 })).resolves.toEqual(['a']);
        await expect(views.counts({ startedBefore: T0 + 100.5 })).resolves.toMatchObject({ completed: 1 });
      });

      it('keeps fractional clock times exactly: filters and cursor paging over sub-ms times', async () => {
        for (const [id, at] of [
          ['x1', T0 + 0.25],
          ['x2', T0 + 0.5],
          ['x3', T0 + 0.5],
          ['x4', T0 + 0.75],
        ] as const) {
          const s = new SagaScript(id);
          s.event('saga.started', { status: 'running', at });
          await applyAll(views, s.events);
        }
        await expect(views.get('x2')).resolves.toMatchObject({ startedAt: T0 + 0.5 });
        await expect(ids({ startedAfter: T0 + 0.5, startedBefore: T0 + 0.75 })).resolves.toEqual([
          'x3',
          'x2',
        ]);
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await views.list({ direction: 'asc', limit: 1, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items.map((view) => view.sagaId));
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        expect(seen).toEqual(['x1', 'x2', 'x3', 'x4']);
      });

      it('filters by update time: after is inclusive, before exclusive; a Date or ms', async () => {
        await seed();
        await expect(ids({ updatedAfter: T0 + 900 })).resolves.toEqual(['d', 'a']);
        await expect(ids({ updatedAfter: new Date(T0 + 900) })).resolves.toEqual(['d', 'a']);
        await expect(ids({ updatedBefore: T0 + 600 })).resolves.toEqual(['c', 'b']);
        await expect(ids({ updatedBefore: new Date(T0 + 601) })).resolves.toEqual(['f', 'e', 'c', 'b']);
        await expect(
          ids({ updatedAfter: new Date(T0 + 400), updatedBefore: T0 + 1_000, status: 'running' }),
        ).resolves.toEqual(['f', 'c']);
      });

      it('sorts by startedAt or updatedAt, ascending or descending, ties broken by saga id', async () => {
        await seed();
        await expect(ids({ direction: 'asc' })).resolves.toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
        // e and f were both last updated at T0 + 600.
        await expect(ids({ sortBy: 'updatedAt' })).resolves.toEqual(['d', 'a', 'f', 'e', 'c', 'b']);
        await expect(ids({ sortBy: 'updatedAt', direction: 'asc' })).resolves.toEqual([
          'b',
          'c',
          'e',
          'f',
          'a',
          'd',
        ]);
      });

      it('breaks ties by saga id in byte order (upper case before lower case, digits before letters)', async () => {
        for (const id of ['b', 'B', 'a', '1', 'A-2', 'a-1', 'Z']) {
          await views.apply(new SagaScript(id).event('saga.started', { status: 'running', at: T0 }));
        }
        await expect(ids({ direction: 'asc' })).resolves.toEqual(['1', 'A-2', 'B', 'Z', 'a', 'a-1', 'b']);
        await expect(ids({})).resolves.toEqual(['b', 'a-1', 'a', 'Z', 'B', 'A-2', '1']);
      });

      it('pages with limit and nextCursor, in both directions and both sorts', async () => {
        await seed();
        for (const sortBy of ['startedAt', 'updatedAt'] as const) {
          for (const direction of ['asc', 'desc'] as const) {
            const all = await ids({ sortBy, direction });
            const pages: string[][] = [];
            let cursor: string | undefined;
            do {
              const page = await views.list({ sortBy, direction, limit: 4, ...(cursor ? { cursor } : {}) });
              pages.push(page.items.map((view) => view.sagaId));
              cursor = page.nextCursor;
            } while (cursor !== undefined);
            expect(pages).toEqual([all.slice(0, 4), all.slice(4)]);
          }
        }
        // A page that ends exactly at the end has no cursor.
        const exact = await views.list({ limit: 6 });
        expect(exact.items).toHaveLength(6);
        expect(exact.nextCursor).toBeUndefined();
        const one = await views.list({ limit: 5, status: 'running' });
        expect(one.nextCursor).toBeUndefined();
      });

      it('keeps paging stable while sagas are added and updated', async () => {
        await seed();
        const first = await views.list({ direction: 'asc', limit: 3 });
        expect(first.items.map((view) => view.sagaId)).toEqual(['a', 'b', 'c']);
        // A newer saga, and one that sorts before the cursor: neither shifts the next page.
        await views.apply(new SagaScript('g').event('saga.started', { status: 'running', at: T0 + 700 }));
        await views.apply(new SagaScript('0').event('saga.started', { status: 'running', at: T0 }));
        const second = await views.list({ direction: 'asc', limit: 3, cursor: first.nextCursor! });
        expect(second.items.map((view) => view.sagaId)).toEqual(['d', 'e', 'f']);
        const third = await views.list({ direction: 'asc', limit: 3, cursor: second.nextCursor! });
        expect(third).toEqual({ items: [await views.get('g')] });
      });

      it('pages through any set of sagas without duplicates or gaps (property)', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(sagaArbitrary, { maxLength: 20 }),
            queryArbitrary,
            async (sagas, query) => {
              await views.reset();
              const unique = [...new Map(sagas.map((saga) => [saga.sagaId, saga])).values()];
              for (const saga of unique) await applyAll(views, eventsOf(saga));
              const expected = reference(unique, query);
              const seen: string[] = [];
              let cursor: string | undefined;
              let pages = 0;
              do {
                const page = await views.list({ ...query, ...(cursor ? { cursor } : {}) });
                expect(page.items.length).toBeLessThanOrEqual(query.limit);
                if (page.nextCursor !== undefined) expect(page.items).toHaveLength(query.limit);
                seen.push(...page.items.map((view) => view.sagaId));
                cursor = page.nextCursor;
                pages++;
                expect(pages).toBeLessThanOrEqual(unique.length + 1);
              } while (cursor !== undefined);
              expect(seen).toEqual(expected);
            },
          ),
          { numRuns: options.numRuns },
        );
      });
    });

    describe('invalid queries', () => {
      const invalid: [string, ListSagasQuery][] = [
        ['limit 0', { limit: 0 }],
        ['limit 1001', { limit: 1001 }],
        ['a fractional limit', { limit: 1.5 }],
        ['a NaN limit', { limit: Number.NaN }],
        ['an unknown status', { status: 'done' as SagaStatus }],
        ['an unknown status among known ones', { status: ['running', 'nope' as SagaStatus] }],
        ['a malformed cursor', { cursor: 'not-a-cursor' }],
        ['a cursor of JSON that is not one', { cursor: Buffer.from('[1,2,3]').toString('base64url') }],
        ['an empty cursor', { cursor: '' }],
        ['an invalid Date', { startedAfter: new Date('nope') }],
        ['a NaN time', { updatedBefore: Number.NaN }],
        ['an infinite time', { startedBefore: Number.POSITIVE_INFINITY }],
        ['an invalid updatedAfter', { updatedAfter: new Date(Number.NaN) }],
        ['a sort that does not exist', { sortBy: 'name' as 'startedAt' }],
        ['a direction that does not exist', { direction: 'up' as 'asc' }],
      ];
      it.each(invalid)('refuses %s (SagaQueryError POTTER_SAGA_INVALID_QUERY)', async (_name, query) => {
        await applyAll(views, completedScript('s1').events);
        await expectQueryError(views.list(query));
      });

      it('refuses a cursor made for another sort or direction', async () => {
        await applyAll(views, completedScript('s1').events);
        await applyAll(views, failingScript('s2').events);
        const { nextCursor } = await views.list({ limit: 1, sortBy: 'updatedAt', direction: 'asc' });
        expect(nextCursor).toBeDefined();
        for (const query of [
          { sortBy: 'startedAt' as const, direction: 'asc' as const },
          { sortBy: 'updatedAt' as const, direction: 'desc' as const },
          {},
        ]) {
          await expectQueryError(views.list({ ...query, cursor: nextCursor! }));
        }
        await expect(
          views.list({ sortBy: 'updatedAt', direction: 'asc', cursor: nextCursor! }),
        ).resolves.toEqual(expect.objectContaining({ items: [expect.objectContaining({ sagaId: 's1' })] }));
      });

      it('refuses invalid filters in counts too', async () => {
        for (const filter of [{ startedAfter: new Date('x') }, { updatedBefore: Number.NaN }]) {
          await expectQueryError(views.counts(filter));
        }
      });
    });

    describe('counts', () => {
      it('has every status, at 0 when there is no saga', async () => {
        const counts = await views.counts();
        expect(Object.keys(counts).sort()).toEqual([...SAGA_STATUSES].sort());
        expect(Object.values(counts).every((n) => n === 0)).toBe(true);
      });

      it('counts the sagas in each status, with filters', async () => {
        const sagas: [string, string, SagaStatus, number][] = [
          ['a', 'order', 'completed', T0 + 1],
          ['b', 'order', 'completed', T0 + 2],
          ['c', 'order', 'compensation_failed', T0 + 3],
          ['d', 'refund', 'completed', T0 + 4],
          ['e', 'refund', 'running', T0 + 5],
          ['f', 'refund', 'pending', T0 + 6],
        ];
        for (const [id, sagaName, status, at] of sagas) {
          const s = new SagaScript(id, sagaName, id === 'a' ? 'shared' : `corr-${id}`);
          if (status === 'pending') {
            s.event('saga.started', { status: 'pending', at });
          } else {
            s.event('saga.started', { status: 'running', at, businessKey: `key-${id}` });
            if (status !== 'running') s.event(typeFor(status), { status, at: at + 10 });
          }
          await applyAll(views, s.events);
        }
        const zero = Object.fromEntries(SAGA_STATUSES.map((status) => [status, 0]));
        await expect(views.counts()).resolves.toEqual({
          ...zero,
          completed: 3,
          compensation_failed: 1,
          running: 1,
          pending: 1,
        });
        await expect(views.counts({ sagaName: 'order' })).resolves.toEqual({
          ...zero,
          completed: 2,
          compensation_failed: 1,
        });
        await expect(views.counts({ sagaName: ['refund'], startedAfter: new Date(T0 + 5) })).resolves.toEqual(
          {
            ...zero,
            running: 1,
            pending: 1,
          },
        );
        await expect(views.counts({ correlationId: 'shared' })).resolves.toEqual({ ...zero, completed: 1 });
        await expect(views.counts({ businessKey: 'key-c' })).resolves.toEqual({
          ...zero,
          compensation_failed: 1,
        });
        await expect(views.counts({ updatedBefore: T0 + 6, startedBefore: T0 + 6 })).resolves.toEqual({
          ...zero,
          running: 1,
        });
        await expect(views.counts({ updatedAfter: T0 + 100 })).resolves.toEqual(zero);

        // By type: one entry per saga name with matching sagas, each with every status.
        await expect(views.countsByType()).resolves.toEqual({
          order: { ...zero, completed: 2, compensation_failed: 1 },
          refund: { ...zero, completed: 1, running: 1, pending: 1 },
        });
        await expect(views.countsByType({ startedAfter: T0 + 3 })).resolves.toEqual({
          order: { ...zero, compensation_failed: 1 },
          refund: { ...zero, completed: 1, running: 1, pending: 1 },
        });
        await expect(views.countsByType({ sagaName: 'refund', updatedAfter: T0 + 10 })).resolves.toEqual({
          refund: { ...zero, completed: 1 },
        });
        await expect(views.countsByType({ updatedAfter: T0 + 100 })).resolves.toEqual({});
        await expect(views.countsByType({ startedAfter: Number.NaN })).rejects.toBeInstanceOf(SagaQueryError);
      });
    });

    describe('reset', () => {
      it('deletes every view and history entry; the same events then apply again', async () => {
        const s = completedScript('s1');
        await applyAll(views, s.events);
        await applyAll(views, failingScript('s2').events);
        const before = await views.get('s1');
        await views.reset();
        await expect(views.get('s1')).resolves.toBeUndefined();
        await expect(views.history('s1')).resolves.toEqual([]);
        await expect(views.list()).resolves.toEqual({ items: [] });
        expect(Object.values(await views.counts()).every((n) => n === 0)).toBe(true);
        await applyAll(views, s.events);
        await expect(views.get('s1')).resolves.toEqual(before);
        await expect(views.history('s1')).resolves.toHaveLength(9);
      });
    });
  });
}

/** An event type that leaves a saga in `status`. */
export function typeFor(status: SagaStatus): SagaEventType {
  const types: Record<SagaStatus, SagaEventType> = {
    pending: 'saga.started',
    running: 'saga.step.started',
    compensating: 'saga.compensation.started',
    completed: 'saga.completed',
    failed: 'saga.failed',
    compensated: 'saga.compensated',
    compensation_failed: 'saga.compensation_failed',
    cancelled: 'saga.cancelled',
    resolved: 'saga.resolved',
  };
  return types[status];
}

/** A saga of the paging property: one or two events. */
interface GeneratedSaga {
  sagaId: string;
  sagaName: string;
  correlationId: string;
  businessKey: string | undefined;
  status: SagaStatus;
  startedAt: number;
  updatedAt: number;
}

// Few distinct values, so that filters match several sagas and sort keys tie often.
const sagaArbitrary: fc.Arbitrary<GeneratedSaga> = fc
  .record({
    sagaId: fc.string({
      unit: fc.constantFrom('a', 'B', 'c', '0', '-', '_', 'Z'),
      minLength: 1,
      maxLength: 3,
    }),
    sagaName: fc.constantFrom('order', 'refund', 'ship'),
    correlationId: fc.constantFrom('c1', 'c2'),
    businessKey: fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined }),
    status: fc.constantFrom(...SAGA_STATUSES),
    startedAt: fc.integer({ min: 0, max: 5 }).map((n) => T0 + n * 10),
    extra: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ extra, ...saga }) => ({
    ...saga,
    updatedAt: saga.status === 'pending' ? saga.startedAt : saga.startedAt + extra * 10,
  }));

type GeneratedQuery = ListSagasQuery & { limit: number };

const bound = (n: number, asDate: boolean): Date | number => (asDate ? new Date(T0 + n * 10) : T0 + n * 10);
const boundArbitrary = fc.option(
  fc.tuple(fc.integer({ min: 0, max: 8 }), fc.boolean()).map(([n, asDate]) => bound(n, asDate)),
  { nil: undefined },
);

const queryArbitrary: fc.Arbitrary<GeneratedQuery> = fc
  .record({
    sagaName: fc.option(
      fc.oneof(fc.constantFrom('order', 'refund'), fc.subarray(['order', 'refund', 'ship'])),
      {
        nil: undefined,
      },
    ),
    status: fc.option(fc.oneof(fc.constantFrom(...SAGA_STATUSES), fc.subarray([...SAGA_STATUSES])), {
      nil: undefined,
    }),
    correlationId: fc.option(fc.constantFrom('c1', 'c2'), { nil: undefined }),
    businessKey: fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined }),
    startedAfter: boundArbitrary,
    startedBefore: boundArbitrary,
    updatedAfter: boundArbitrary,
    updatedBefore: boundArbitrary,
    sortBy: fc.option(fc.constantFrom('startedAt' as const, 'updatedAt' as const), { nil: undefined }),
    direction: fc.option(fc.constantFrom('asc' as const, 'desc' as const), { nil: undefined }),
    limit: fc.integer({ min: 1, max: 6 }),
  })
  .map(
    (query) =>
      Object.fromEntries(
        Object.entries(query).filter(([, value]) => value !== undefined),
      ) as unknown as GeneratedQuery,
  );

function eventsOf(saga: GeneratedSaga): RecordedSagaEvent[] {
  const s = new SagaScript(saga.sagaId, saga.sagaName, saga.correlationId);
  s.event('saga.started', {
    status: saga.status === 'pending' ? 'pending' : 'running',
    at: saga.startedAt,
    ...(saga.businessKey === undefined ? {} : { businessKey: saga.businessKey }),
  });
  if (saga.status !== 'pending') {
    s.event(typeFor(saga.status), {
      status: saga.status,
      at: saga.updatedAt,
      ...(saga.status === 'running' || saga.status === 'compensating' ? { step: 'x', attempt: 1 } : {}),
    });
  }
  return s.events;
}

const ms = (time: Date | number | undefined): number | undefined =>
  time === undefined ? undefined : time instanceof Date ? time.getTime() : time;

/** The ids `query` lists from `sagas`, all pages together, computed independently of the stores. */
function reference(sagas: readonly GeneratedSaga[], query: GeneratedQuery): string[] {
  const list = <T>(value: T | readonly T[] | undefined): readonly T[] | undefined =>
    value === undefined ? undefined : Array.isArray(value) ? (value as readonly T[]) : [value as T];
  const names = list(query.sagaName);
  const statuses = list(query.status);
  const sortBy = query.sortBy ?? 'startedAt';
  const sign = (query.direction ?? 'desc') === 'asc' ? 1 : -1;
  const [sa, sb, ua, ub] = [
    query.startedAfter,
    query.startedBefore,
    query.updatedAfter,
    query.updatedBefore,
  ].map(ms);
  return sagas
    .filter(
      (saga) =>
        (names === undefined || names.includes(saga.sagaName)) &&
        (statuses === undefined || statuses.includes(saga.status)) &&
        (query.correlationId === undefined || saga.correlationId === query.correlationId) &&
        (query.businessKey === undefined || saga.businessKey === query.businessKey) &&
        (sa === undefined || saga.startedAt >= sa) &&
        (sb === undefined || saga.startedAt < sb) &&
        (ua === undefined || saga.updatedAt >= ua) &&
        (ub === undefined || saga.updatedAt < ub),
    )
    .sort((x, y) =>
      x[sortBy] !== y[sortBy]
        ? sign * (x[sortBy] - y[sortBy])
        : sign * (x.sagaId < y.sagaId ? -1 : x.sagaId > y.sagaId ? 1 : 0),
    )
    .map((saga) => saga.sagaId);
}
