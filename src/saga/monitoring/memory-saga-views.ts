import type { RecordedSagaEvent } from '../saga-event-log';
import type { SagaStatus } from '../types';
import {
  applySagaEvent,
  emptyCounts,
  encodeCursor,
  historyEntryOf,
  resolveFilter,
  resolveHistoryQuery,
  resolveListQuery,
  type ListSagasQuery,
  type ResolvedListQuery,
  type SagaFilter,
  type SagaHistoryEntry,
  type SagaHistoryQuery,
  type SagaPage,
  type SagaStatusCounts,
  type SagaView,
  type SagaViewStore,
} from './saga-view';

type Filter = ReturnType<typeof resolveFilter>;

function matches(view: SagaView, filter: Filter): boolean {
  return (
    (filter.sagaNames === undefined || filter.sagaNames.includes(view.sagaName)) &&
    (filter.correlationId === undefined || view.correlationId === filter.correlationId) &&
    (filter.businessKey === undefined || view.businessKey === filter.businessKey) &&
    (filter.failedStep === undefined || view.error?.step === filter.failedStep) &&
    (filter.startedAfter === undefined || view.startedAt >= filter.startedAfter) &&
    (filter.startedBefore === undefined || view.startedAt < filter.startedBefore) &&
    (filter.updatedAfter === undefined || view.updatedAt >= filter.updatedAfter) &&
    (filter.updatedBefore === undefined || view.updatedAt < filter.updatedBefore)
  );
}

/** Ids in UTF-16 code unit order (the SQL store's `COLLATE "C"` for ids within the BMP). */
const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The saga read model in memory (single process, tests, the demo). Views and history are copied
 * in and out, so callers cannot change the stored ones.
 */
export class MemorySagaViews implements SagaViewStore {
  readonly #views = new Map<string, SagaView>();
  readonly #history = new Map<string, SagaHistoryEntry[]>();

  async apply(event: RecordedSagaEvent): Promise<void> {
    const before = this.#views.get(event.sagaId);
    const after = applySagaEvent(before, event);
    if (after === undefined) return;
    this.#views.set(event.sagaId, after);
    const entries = this.#history.get(event.sagaId) ?? [];
    entries.push(historyEntryOf(before, event));
    this.#history.set(event.sagaId, entries);
  }

  async get(sagaId: string): Promise<SagaView | undefined> {
    const view = this.#views.get(sagaId);
    return view === undefined ? undefined : structuredClone(view);
  }

  async list(query: ListSagasQuery = {}): Promise<SagaPage> {
    const q: ResolvedListQuery = resolveListQuery(query);
    const sign = q.direction === 'asc' ? 1 : -1;
    const key = q.sortBy;
    const compare = (a: SagaView, b: SagaView): number =>
      sign * (a[key] !== b[key] ? a[key] - b[key] : compareIds(a.sagaId, b.sagaId));
    const after = q.after;
    const rows = [...this.#views.values()]
      .filter(
        (view) =>
          matches(view, q) &&
          (q.statuses === undefined || q.statuses.includes(view.status)) &&
          (after === undefined ||
            sign *
              (view[key] !== after.value ? view[key] - after.value : compareIds(view.sagaId, after.sagaId)) >
              0),
      )
      .sort(compare);
    const items = rows.slice(0, q.limit).map((view) => structuredClone(view));
    const last = items[items.length - 1];
    return rows.length > q.limit && last !== undefined
      ? { items, nextCursor: encodeCursor(last, q.sortBy, q.direction) }
      : { items };
  }

  async history(sagaId: string, query: SagaHistoryQuery = {}): Promise<SagaHistoryEntry[]> {
    const { after, limit } = resolveHistoryQuery(query);
    return (this.#history.get(sagaId) ?? [])
      .filter((entry) => entry.seq > after)
      .slice(0, limit)
      .map((entry) => structuredClone(entry));
  }

  async counts(filter: SagaFilter = {}): Promise<SagaStatusCounts> {
    const resolved = resolveFilter(filter);
    const counts = emptyCounts();
    for (const view of this.#views.values()) if (matches(view, resolved)) counts[view.status] += 1;
    return counts;
  }

  async countsByType(filter: SagaFilter = {}): Promise<Readonly<Record<string, SagaStatusCounts>>> {
    const resolved = resolveFilter(filter);
    const byType: Record<string, Record<SagaStatus, number>> = {};
    for (const view of this.#views.values()) {
      if (!matches(view, resolved)) continue;
      const counts = (byType[view.sagaName] ??= emptyCounts());
      counts[view.status] += 1;
    }
    return byType;
  }

  async reset(): Promise<void> {
    this.#views.clear();
    this.#history.clear();
  }

  async close(): Promise<void> {}
}
