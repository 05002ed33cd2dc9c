import type { SqlClient } from '../../eventsourcing/sql/sql-client';
import { SagaQueryError } from '../errors';
import type { RecordedSagaEvent } from '../saga-event-log';
import { OPEN_SAGA_STATUSES } from '../saga-store';
import type { SagaErrorInfo, SagaEventType, SagaStatus } from '../types';

/** Every saga status, in lifecycle order (the keys of {@link SagaStatusCounts}). */
export const SAGA_STATUSES: readonly SagaStatus[] = [
  'pending',
  'running',
  'compensating',
  'completed',
  'failed',
  'compensated',
  'compensation_failed',
  'cancelled',
  'resolved',
];

/** Where one step of a saga is, in the read model. */
export type SagaStepViewStatus =
  'running' | 'completed' | 'failed' | 'skipped' | 'compensating' | 'compensated' | 'compensation_failed';

/** An error in the read model: the error, with the step it came from and when. */
export interface SagaViewError extends SagaErrorInfo {
  readonly step?: string;
  readonly at: number;
}

/** One step of a saga in the read model. */
export interface SagaStepView {
  readonly status: SagaStepViewStatus;
  /**
   * The `seq` of the step's first event: sort `steps` by it for the order the steps began in (the
   * object's key order is not kept by every store).
   */
  readonly firstSeq: number;
  /** Attempts of its `execute` so far. */
  readonly attempts: number;
  /** Attempts of its compensation so far. */
  readonly compensationAttempts: number;
  /** When its latest attempt (or compensation attempt) started (clock ms). */
  readonly startedAt?: number;
  /** When it completed, was skipped, or was compensated (clock ms). */
  readonly finishedAt?: number;
  /** How long its successful attempt (or compensation) took, in ms. */
  readonly durationMs?: number;
  readonly lastError?: SagaViewError;
}

/**
 * A saga as the read model shows it (`GetSaga`, `ListSagas`): projected from the saga's recorded
 * events, so it is exactly the state of the last saved transition once the projection caught up.
 */
export interface SagaView {
  readonly sagaId: string;
  /** The saga definition's name (its "type"). */
  readonly sagaName: string;
  readonly status: SagaStatus;
  readonly correlationId: string;
  readonly businessKey?: string;
  /**
   * The step of the latest step or compensation event while the saga is open or failed; unset
   * once it completed, was compensated, cancelled or resolved.
   */
  readonly currentStep?: string;
  /** Attempts of `execute`, by step (as in the saga's state). */
  readonly attempts: Readonly<Record<string, number>>;
  /** Attempts of compensations, by step. */
  readonly compensationAttempts: Readonly<Record<string, number>>;
  /** Steps completed, in the order they completed. */
  readonly completedSteps: readonly string[];
  /** Conditional steps skipped. */
  readonly skippedSteps: readonly string[];
  /** Steps compensated, in compensation order. */
  readonly compensatedSteps: readonly string[];
  /** Every step seen so far, by name. */
  readonly steps: Readonly<Record<string, SagaStepView>>;
  /** Why the saga failed or was cancelled, with the step that failed (as `SagaState.error`). */
  readonly error?: SagaViewError;
  /** The latest error (of a step attempt, a compensation attempt, or the saga). */
  readonly lastError?: SagaViewError;
  /** When it started (clock ms). */
  readonly startedAt: number;
  /** When its latest event happened (clock ms). */
  readonly updatedAt: number;
  /** When it settled (completed, failed, compensated, cancelled, resolved), if it did. */
  readonly finishedAt?: number;
  /** `finishedAt - startedAt`, once settled. */
  readonly durationMs?: number;
  /** Events applied: the version of the saga's event stream this view reflects. */
  readonly version: number;
}

/** One event of a saga's history (`GetSagaHistory`). */
export interface SagaHistoryEntry {
  /** 1 for the saga's first event, then +1 per event. */
  readonly seq: number;
  readonly type: SagaEventType;
  /** The saga status after the event. */
  readonly status: SagaStatus;
  readonly step?: string;
  readonly attempt?: number;
  readonly willRetry?: boolean;
  readonly error?: SagaErrorInfo;
  /** When it happened (clock ms). */
  readonly at: number;
  /** For a step's or compensation's end: how long that attempt took, in ms. */
  readonly durationMs?: number;
}

/** A point in time: a `Date` or ms since the epoch. */
export type SagaTimeBound = Date | number;

/** Filters shared by {@link ListSagasQuery} and {@link SagaCountsQuery}. */
export interface SagaFilter {
  /** Only sagas of this definition (or these). */
  sagaName?: string | readonly string[];
  /** Only sagas with this correlation id. */
  correlationId?: string;
  /** Only sagas with this business key. */
  businessKey?: string;
  /** Only sagas that failed (or were cancelled) at this step (`SagaView.error.step`). */
  failedStep?: string;
  /** Only sagas started at or after this time. */
  startedAfter?: SagaTimeBound;
  /** Only sagas started before this time. */
  startedBefore?: SagaTimeBound;
  /** Only sagas whose latest event is at or after this time. */
  updatedAfter?: SagaTimeBound;
  /** Only sagas whose latest event is before this time. */
  updatedBefore?: SagaTimeBound;
}

/** What `ListSagas` asks for. */
export interface ListSagasQuery extends SagaFilter {
  /** Only sagas in this status (or these). */
  status?: SagaStatus | readonly SagaStatus[];
  /** @default 'startedAt' */
  sortBy?: 'startedAt' | 'updatedAt';
  /** @default 'desc' (newest first) */
  direction?: 'asc' | 'desc';
  /** Page size, 1 to 1000. @default 50 */
  limit?: number;
  /** The `nextCursor` of the previous page (same filters, sort and direction). */
  cursor?: string;
}

/** One page of `ListSagas`. */
export interface SagaPage {
  readonly items: readonly SagaView[];
  /** Pass it as `cursor` for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

/** Options of `GetSagaHistory`. */
export interface SagaHistoryQuery {
  /** Only entries after this `seq`. @default 0 */
  after?: number;
  /** At most this many entries, 1 to 10 000. @default 1000 */
  limit?: number;
}

/** Number of sagas in each status (every status present, 0 when none). */
export type SagaStatusCounts = Readonly<Record<SagaStatus, number>>;

/**
 * Storage of the saga read model, written by the `potter.sagas` projection and read by the saga
 * queries. {@link MemorySagaViews} and `SqlSagaViews` (PostgreSQL/PGlite) pass the same contract.
 * `apply` is idempotent: an event at or below a view's `version` changes nothing (at-least-once
 * delivery), and events of one saga must come in stream order.
 */
export interface SagaViewStore {
  /** Applies one recorded saga event, inside `tx` (the projection's transaction) when given. */
  apply(event: RecordedSagaEvent, tx?: SqlClient): Promise<void>;
  /** The view of a saga, or `undefined` when the read model has none. */
  get(sagaId: string): Promise<SagaView | undefined>;
  /** A page of sagas matching the query (keyset paging: stable while sagas are added). */
  list(query?: ListSagasQuery): Promise<SagaPage>;
  /** The saga's events, oldest first (empty for an unknown saga). */
  history(sagaId: string, query?: SagaHistoryQuery): Promise<SagaHistoryEntry[]>;
  /** How many sagas (matching `filter`) are in each status. */
  counts(filter?: SagaFilter): Promise<SagaStatusCounts>;
  /** The same counts for each saga type (definition name) that has sagas matching `filter`. */
  countsByType(filter?: SagaFilter): Promise<Readonly<Record<string, SagaStatusCounts>>>;
  /** Deletes every view and history entry (before the projection replays from the start). */
  reset(tx?: SqlClient): Promise<void>;
  /** Releases resources (a store on a shared client leaves it open). */
  close(): Promise<void>;
}

const SETTLED_WITHOUT_STEP: readonly SagaStatus[] = ['completed', 'compensated', 'cancelled', 'resolved'];

/**
 * The view after `event` (a new view for `saga.started` or the first event seen). Pure: `view` is
 * not changed. `undefined` when `event` is not newer than `view` (already applied).
 */
export function applySagaEvent(view: SagaView | undefined, event: RecordedSagaEvent): SagaView | undefined {
  if (view !== undefined && event.seq <= view.version) return undefined;
  const base: SagaView = view ?? {
    sagaId: event.sagaId,
    sagaName: event.sagaName,
    status: event.status,
    correlationId: event.correlationId,
    attempts: {},
    compensationAttempts: {},
    completedSteps: [],
    skippedSteps: [],
    compensatedSteps: [],
    steps: {},
    startedAt: event.startedAt ?? event.at,
    updatedAt: event.at,
    version: 0,
  };
  const next: {
    -readonly [K in keyof SagaView]: SagaView[K];
  } = {
    ...base,
    status: event.status,
    updatedAt: Math.max(base.updatedAt, event.at),
    version: event.seq,
  };
  if (event.type === 'saga.started') {
    next.startedAt = event.startedAt ?? event.at;
    if (event.businessKey !== undefined) next.businessKey = event.businessKey;
  }
  const step = event.step;
  if (step !== undefined) {
    const before: SagaStepView = base.steps[step] ?? {
      status: 'running',
      firstSeq: event.seq,
      attempts: 0,
      compensationAttempts: 0,
    };
    const changed = stepAfter(before, event, step);
    next.steps = { ...base.steps, [step]: changed };
    next.currentStep = step;
    if (event.type === 'saga.step.started' && event.attempt !== undefined) {
      next.attempts = { ...base.attempts, [step]: Math.max(base.attempts[step] ?? 0, event.attempt) };
    }
    if (event.type === 'saga.compensation.started' && event.attempt !== undefined) {
      next.compensationAttempts = {
        ...base.compensationAttempts,
        [step]: Math.max(base.compensationAttempts[step] ?? 0, event.attempt),
      };
    }
    if (event.type === 'saga.step.completed' && !base.completedSteps.includes(step)) {
      next.completedSteps = [...base.completedSteps, step];
    }
    if (event.type === 'saga.step.skipped' && !base.skippedSteps.includes(step)) {
      next.skippedSteps = [...base.skippedSteps, step];
    }
    if (event.type === 'saga.compensation.completed' && !base.compensatedSteps.includes(step)) {
      next.compensatedSteps = [...base.compensatedSteps, step];
    }
  }
  if (event.error !== undefined) {
    const last = base.lastError;
    const error = event.error;
    const same = (known: SagaViewError | undefined): boolean =>
      known !== undefined && known.name === error.name && known.message === error.message;
    // Also the failure reason: saga.compensated repeats it after compensation errors came in between.
    const repeated = step === undefined && (same(last) || same(base.error));
    // A saga-level event (saga.failed, saga.compensated…) repeats the error that ended the saga and
    // names no step: that error stays the last one, with its step.
    if (!repeated) {
      const where = step ?? base.currentStep;
      next.lastError = { ...event.error, ...(where !== undefined ? { step: where } : {}), at: event.at };
    }
    if ((event.type === 'saga.failed' || event.type === 'saga.cancelled') && base.error === undefined) {
      const where = repeated ? last?.step : (step ?? base.currentStep);
      next.error = { ...event.error, ...(where !== undefined ? { step: where } : {}), at: event.at };
    }
  }
  if (SETTLED_WITHOUT_STEP.includes(event.status)) delete next.currentStep;
  if (OPEN_SAGA_STATUSES.includes(event.status)) {
    delete next.finishedAt;
    delete next.durationMs;
  } else if (next.finishedAt === undefined || event.type === 'saga.resolved') {
    next.finishedAt = event.at;
    next.durationMs = event.at - next.startedAt;
  }
  return next;
}

function stepAfter(before: SagaStepView, event: RecordedSagaEvent, step: string): SagaStepView {
  const attempt = event.attempt;
  const error = event.error === undefined ? before.lastError : { ...event.error, step, at: event.at };
  const withError = error === undefined ? {} : { lastError: error };
  const since = before.startedAt;
  const took = since === undefined ? {} : { durationMs: event.at - since };
  switch (event.type) {
    case 'saga.step.started':
      return {
        ...before,
        status: 'running',
        attempts: Math.max(before.attempts, attempt ?? 0),
        startedAt: event.at,
      };
    case 'saga.step.completed':
      return { ...before, status: 'completed', finishedAt: event.at, ...took };
    case 'saga.step.failed':
      return { ...before, status: event.willRetry === true ? 'running' : 'failed', ...withError };
    case 'saga.step.skipped':
      return { ...before, status: 'skipped', finishedAt: event.at };
    case 'saga.compensation.started':
      return {
        ...before,
        status: 'compensating',
        compensationAttempts: Math.max(before.compensationAttempts, attempt ?? 0),
        startedAt: event.at,
      };
    case 'saga.compensation.completed':
      return { ...before, status: 'compensated', finishedAt: event.at, ...took };
    case 'saga.compensation.failed':
      return {
        ...before,
        status: event.willRetry === true ? 'compensating' : 'compensation_failed',
        ...withError,
      };
    default:
      return { ...before, ...withError };
  }
}

/** The history entry of `event`, given the view before it (for the attempt's duration). */
export function historyEntryOf(view: SagaView | undefined, event: RecordedSagaEvent): SagaHistoryEntry {
  const entry: { -readonly [K in keyof SagaHistoryEntry]: SagaHistoryEntry[K] } = {
    seq: event.seq,
    type: event.type,
    status: event.status,
    at: event.at,
  };
  if (event.step !== undefined) entry.step = event.step;
  if (event.attempt !== undefined) entry.attempt = event.attempt;
  if (event.willRetry !== undefined) entry.willRetry = event.willRetry;
  if (event.error !== undefined) entry.error = event.error;
  const ends =
    event.type === 'saga.step.completed' ||
    event.type === 'saga.step.failed' ||
    event.type === 'saga.compensation.completed' ||
    event.type === 'saga.compensation.failed';
  const since = event.step === undefined ? undefined : view?.steps[event.step]?.startedAt;
  if (ends && since !== undefined) entry.durationMs = event.at - since;
  return entry;
}

/** A validated {@link ListSagasQuery}, times in ms. @internal */
export interface ResolvedListQuery {
  sagaNames: readonly string[] | undefined;
  statuses: readonly SagaStatus[] | undefined;
  correlationId: string | undefined;
  businessKey: string | undefined;
  failedStep: string | undefined;
  startedAfter: number | undefined;
  startedBefore: number | undefined;
  updatedAfter: number | undefined;
  updatedBefore: number | undefined;
  sortBy: 'startedAt' | 'updatedAt';
  direction: 'asc' | 'desc';
  limit: number;
  /** The last row of the previous page. */
  after: { value: number; sagaId: string } | undefined;
}

function timeOf(name: string, bound: SagaTimeBound | undefined): number | undefined {
  if (bound === undefined) return undefined;
  const ms = bound instanceof Date ? bound.getTime() : bound;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new SagaQueryError(`${name} must be a valid Date or a number of ms since the epoch.`, {
      [name]: String(bound),
    });
  }
  return ms;
}

function listOf<T extends string>(
  name: string,
  value: T | readonly T[] | undefined,
): readonly T[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
    throw new SagaQueryError(`${name} must be a string or an array of strings.`, { [name]: value });
  }
  return list as readonly T[];
}

/** Validates a filter. @internal */
export function resolveFilter(
  filter: SagaFilter,
): Omit<ResolvedListQuery, 'statuses' | 'sortBy' | 'direction' | 'limit' | 'after'> {
  for (const name of ['correlationId', 'businessKey', 'failedStep'] as const) {
    const value = filter[name];
    if (value !== undefined && typeof value !== 'string') {
      throw new SagaQueryError(`${name} must be a string.`, { [name]: value });
    }
  }
  return {
    sagaNames: listOf('sagaName', filter.sagaName),
    correlationId: filter.correlationId,
    businessKey: filter.businessKey,
    failedStep: filter.failedStep,
    startedAfter: timeOf('startedAfter', filter.startedAfter),
    startedBefore: timeOf('startedBefore', filter.startedBefore),
    updatedAfter: timeOf('updatedAfter', filter.updatedAfter),
    updatedBefore: timeOf('updatedBefore', filter.updatedBefore),
  };
}

/**
 * Validates a list query and decodes its cursor. @internal
 *
 * @throws SagaQueryError for an unknown status, a limit outside 1–1000, an invalid time, or a
 *   cursor that is malformed or was made for another sort or direction.
 */
export function resolveListQuery(query: ListSagasQuery): ResolvedListQuery {
  const statuses = listOf('status', query.status);
  const unknown = statuses?.filter((status) => !SAGA_STATUSES.includes(status));
  if (unknown !== undefined && unknown.length > 0) {
    throw new SagaQueryError(
      `Unknown saga status ${unknown.join(', ')}; use one of ${SAGA_STATUSES.join(', ')}.`,
      {
        status: unknown,
      },
    );
  }
  const sortBy = query.sortBy ?? 'startedAt';
  if (sortBy !== 'startedAt' && sortBy !== 'updatedAt') {
    throw new SagaQueryError(`sortBy must be 'startedAt' or 'updatedAt', not ${String(sortBy)}.`, { sortBy });
  }
  const direction = query.direction ?? 'desc';
  if (direction !== 'asc' && direction !== 'desc') {
    throw new SagaQueryError(`direction must be 'asc' or 'desc', not ${String(direction)}.`, { direction });
  }
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new SagaQueryError(`limit must be an integer from 1 to 1000, not ${String(limit)}.`, { limit });
  }
  return {
    ...resolveFilter(query),
    statuses,
    sortBy,
    direction,
    limit,
    after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, sortBy, direction),
  };
}

/** The cursor after `view` in a listing by `sortBy`/`direction`. @internal */
export function encodeCursor(
  view: SagaView,
  sortBy: 'startedAt' | 'updatedAt',
  direction: 'asc' | 'desc',
): string {
  return Buffer.from(JSON.stringify([1, sortBy, direction, view[sortBy], view.sagaId]), 'utf8').toString(
    'base64url',
  );
}

function decodeCursor(
  cursor: string,
  sortBy: 'startedAt' | 'updatedAt',
  direction: 'asc' | 'desc',
): { value: number; sagaId: string } {
  let parsed: unknown;
  try {
    parsed =
      typeof cursor === 'string' ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined;
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 5 ||
    parsed[0] !== 1 ||
    typeof parsed[3] !== 'number' ||
    typeof parsed[4] !== 'string'
  ) {
    throw new SagaQueryError('The cursor is not one ListSagas returned: start again without a cursor.', {
      cursor,
    });
  }
  if (parsed[1] !== sortBy || parsed[2] !== direction) {
    throw new SagaQueryError(
      `The cursor was made for sortBy ${String(parsed[1])} ${String(parsed[2])}, not ${sortBy} ${direction}: ` +
        'keep the sort of the first page, or start again without a cursor.',
      { cursor, sortBy, direction },
    );
  }
  return { value: parsed[3], sagaId: parsed[4] };
}

/** Validates a history query. @internal */
export function resolveHistoryQuery(query: SagaHistoryQuery): { after: number; limit: number } {
  const after = query.after ?? 0;
  const limit = query.limit ?? 1000;
  if (!Number.isInteger(after) || after < 0) {
    throw new SagaQueryError(`after must be a non-negative integer, not ${String(after)}.`, { after });
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new SagaQueryError(`limit must be an integer from 1 to 10000, not ${String(limit)}.`, { limit });
  }
  return { after, limit };
}

/** Counts with every status at 0. @internal */
export function emptyCounts(): Record<SagaStatus, number> {
  return Object.fromEntries(SAGA_STATUSES.map((status) => [status, 0])) as Record<SagaStatus, number>;
}
