import { SagaQueryError } from '../../../src/saga/errors';
import {
  applySagaEvent,
  historyEntryOf,
  resolveHistoryQuery,
  resolveListQuery,
  type SagaView,
} from '../../../src/saga/monitoring/saga-view';
import type { RecordedSagaEvent } from '../../../src/saga/saga-event-log';
import { SagaScript, T0 } from '../../contracts/saga-views.contract';

/** Applies `events` from no view, expecting each to change it. */
function project(events: readonly RecordedSagaEvent[]): SagaView {
  let view: SagaView | undefined;
  for (const event of events) {
    const next = applySagaEvent(view, event);
    expect(next).toBeDefined();
    view = next;
  }
  return view!;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const boom = { name: 'Error', message: 'boom' };

describe('applySagaEvent', () => {
  it('is pure: the view given is not changed (a frozen view works)', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'a', attempt: 1 });
    const view = deepFreeze(project(s.events.slice(0, 1)));
    const copy = structuredClone(view);
    const next = applySagaEvent(view, s.events[1]!);
    expect(view).toEqual(copy);
    expect(next).toMatchObject({ version: 2, currentStep: 'a' });
  });

  it('returns undefined for an event at or below the view’s version', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'a', attempt: 1 });
    const view = project(s.events);
    expect(applySagaEvent(view, s.events[1]!)).toBeUndefined();
    expect(applySagaEvent(view, s.events[0]!)).toBeUndefined();
  });

  it('starts a view from whatever event comes first (a stream truncated before saga.started)', () => {
    const s = new SagaScript('s', 'order', 'c');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'a', attempt: 1 });
    s.event('saga.step.completed', { status: 'running', at: T0 + 9, step: 'a', attempt: 1 });
    const view = applySagaEvent(undefined, s.events[2]!)!;
    expect(view).toMatchObject({
      sagaId: 's',
      sagaName: 'order',
      correlationId: 'c',
      status: 'running',
      startedAt: T0 + 9,
      updatedAt: T0 + 9,
      completedSteps: ['a'],
      version: 3,
    });
    // The step's start was not seen: no duration.
    expect(view.steps.a).toEqual({
      status: 'completed',
      firstSeq: 3,
      attempts: 0,
      compensationAttempts: 0,
      finishedAt: T0 + 9,
    });
  });

  it('applies across a gap in the stream versions', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'a', attempt: 1 });
    s.event('saga.completed', { status: 'completed', at: T0 + 2 });
    expect(project([s.events[0]!, s.events[2]!])).toMatchObject({ status: 'completed', version: 3 });
  });

  it('never moves updatedAt back when the clock does', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 + 100 });
    s.event('saga.step.started', { status: 'running', at: T0 + 50, step: 'a', attempt: 1 });
    expect(project(s.events).updatedAt).toBe(T0 + 100);
  });

  it('lists a step completed again (a re-run after a crash) once, and keeps the highest attempt', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'a', attempt: 2 });
    s.event('saga.step.completed', { status: 'running', at: T0 + 2, step: 'a', attempt: 2 });
    s.event('saga.step.started', { status: 'running', at: T0 + 3, step: 'a', attempt: 1 });
    s.event('saga.step.completed', { status: 'running', at: T0 + 5, step: 'a', attempt: 1 });
    s.event('saga.compensation.started', { status: 'compensating', at: T0 + 6, step: 'a', attempt: 1 });
    s.event('saga.compensation.completed', { status: 'compensating', at: T0 + 7, step: 'a', attempt: 1 });
    s.event('saga.compensation.completed', { status: 'compensating', at: T0 + 8, step: 'a', attempt: 1 });
    const view = project(s.events);
    expect(view.completedSteps).toEqual(['a']);
    expect(view.compensatedSteps).toEqual(['a']);
    expect(view.attempts).toEqual({ a: 2 });
    expect(view.steps.a).toMatchObject({ attempts: 2, compensationAttempts: 1 });
  });

  it('leaves the attempts alone for a step event without an attempt', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'a' });
    const view = project(s.events);
    expect(view.attempts).toEqual({});
    expect(view.steps.a).toEqual({
      status: 'running',
      firstSeq: 2,
      attempts: 0,
      compensationAttempts: 0,
      startedAt: T0 + 1,
    });
  });

  it('blames a saga-level error of its own (a deadline) on the step in progress', () => {
    const deadline = { name: 'SagaTimeoutError', message: 'deadline passed' };
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.started', { status: 'running', at: T0 + 1, step: 'wait', attempt: 1 });
    s.event('saga.failed', { status: 'failed', at: T0 + 9, error: deadline });
    expect(project(s.events)).toMatchObject({
      status: 'failed',
      currentStep: 'wait',
      error: { ...deadline, step: 'wait', at: T0 + 9 },
      lastError: { ...deadline, step: 'wait', at: T0 + 9 },
      finishedAt: T0 + 9,
    });
  });

  it('keeps the first failure reason: a later saga-level error changes only the latest error', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.failed', { status: 'compensating', at: T0 + 1, error: boom });
    s.event('saga.cancelled', {
      status: 'cancelled',
      at: T0 + 2,
      error: { name: 'SagaCancelledError', message: 'cancelled' },
    });
    const view = project(s.events);
    expect(view.error).toEqual({ ...boom, at: T0 + 1 });
    expect(view.lastError).toEqual({ name: 'SagaCancelledError', message: 'cancelled', at: T0 + 2 });
    expect(view).toMatchObject({ status: 'cancelled', finishedAt: T0 + 2, durationMs: 2 });
    expect(view.currentStep).toBeUndefined();
  });

  it('ends a saga when it settles, reopens it if an open status follows, and ends it again when resolved', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.failed', { status: 'failed', at: T0 + 5, error: boom });
    expect(project(s.events)).toMatchObject({ finishedAt: T0 + 5, durationMs: 5 });
    s.event('saga.compensation_failed', {
      status: 'compensation_failed',
      at: T0 + 6,
      step: 'a',
      error: boom,
    });
    const reopened = project(s.events);
    expect(reopened.finishedAt).toBeUndefined();
    expect(reopened.durationMs).toBeUndefined();
    s.event('saga.resolved', { status: 'resolved', at: T0 + 60 });
    expect(project(s.events)).toMatchObject({ finishedAt: T0 + 60, durationMs: 60 });
  });
});

describe('historyEntryOf', () => {
  it('times only the end of an attempt whose start the view saw', () => {
    const s = new SagaScript('s');
    s.event('saga.started', { status: 'running', at: T0 });
    s.event('saga.step.failed', {
      status: 'running',
      at: T0 + 5,
      step: 'a',
      attempt: 1,
      willRetry: true,
      error: boom,
    });
    const view = project(s.events.slice(0, 1));
    expect(historyEntryOf(view, s.events[1]!)).toEqual({
      seq: 2,
      type: 'saga.step.failed',
      status: 'running',
      step: 'a',
      attempt: 1,
      willRetry: true,
      error: boom,
      at: T0 + 5,
    });
    expect(historyEntryOf(undefined, s.events[0]!)).toEqual({
      seq: 1,
      type: 'saga.started',
      status: 'running',
      at: T0,
    });
  });
});

describe('query validation', () => {
  const refused = (run: () => unknown): void => {
    expect(run).toThrow(SagaQueryError);
  };

  it('refuses filters of the wrong type (from untyped callers: JSON, JavaScript)', () => {
    refused(() => resolveListQuery({ correlationId: 42 as unknown as string }));
    refused(() => resolveListQuery({ businessKey: {} as unknown as string }));
    refused(() => resolveListQuery({ sagaName: [1] as unknown as string[] }));
    refused(() => resolveListQuery({ status: 7 as unknown as 'running' }));
    refused(() => resolveListQuery({ startedAfter: '2026-01-01' as unknown as number }));
    refused(() => resolveListQuery({ limit: '5' as unknown as number }));
  });

  it('refuses a cursor of another format version', () => {
    const cursor = Buffer.from(JSON.stringify([2, 'startedAt', 'desc', T0, 's'])).toString('base64url');
    refused(() => resolveListQuery({ cursor }));
    const ok = Buffer.from(JSON.stringify([1, 'startedAt', 'desc', T0, 's'])).toString('base64url');
    expect(resolveListQuery({ cursor: ok }).after).toEqual({ value: T0, sagaId: 's' });
  });

  it('has defaults: newest first by start, 50 a page; history from the start, 1000 at most', () => {
    expect(resolveListQuery({})).toMatchObject({ sortBy: 'startedAt', direction: 'desc', limit: 50 });
    expect(resolveListQuery({ limit: 1 }).limit).toBe(1);
    expect(resolveListQuery({ limit: 1000 }).limit).toBe(1000);
    expect(resolveHistoryQuery({})).toEqual({ after: 0, limit: 1000 });
    expect(resolveHistoryQuery({ after: 3, limit: 10_000 })).toEqual({ after: 3, limit: 10_000 });
  });
});
