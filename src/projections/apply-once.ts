import type { RecordedEvent } from '../eventsourcing/event-store';
import type { ReadModelDocument } from './read-model-store';

/** Field under which {@link applyOnce} records the last applied version of each stream. */
export const APPLIED_FIELD = '$applied';

/**
 * Makes an at-least-once handler idempotent: applies `change` to `document` only if `event` is
 * newer than the last event of its stream already applied to this document, and records its
 * version in the document (`$applied`). Returns the document to store (unchanged when the event
 * was already applied; `undefined` when there is none and `change` made none).
 *
 * ```ts
 * await ctx.readModel<Summary>('summaries').update(event.orderId, (doc) =>
 *   applyOnce(doc, ctx.event, (d) => ({ ...d, total: (d?.total ?? 0) + event.amount })),
 * );
 * ```
 */
export function applyOnce<T extends ReadModelDocument>(
  document: T | undefined,
  event: Pick<RecordedEvent, 'streamId' | 'streamVersion'>,
  change: (current: T | undefined) => T | undefined,
): T | undefined {
  const applied = (document?.[APPLIED_FIELD] ?? {}) as Record<string, number>;
  if ((applied[event.streamId] ?? 0) >= event.streamVersion) return document;
  const next = change(document);
  if (next === undefined) return undefined;
  return { ...next, [APPLIED_FIELD]: { ...applied, [event.streamId]: event.streamVersion } };
}

/** True when {@link applyOnce} already applied `event` to `document`. */
export function wasApplied(
  document: ReadModelDocument | undefined,
  event: Pick<RecordedEvent, 'streamId' | 'streamVersion'>,
): boolean {
  const applied = (document?.[APPLIED_FIELD] ?? {}) as Record<string, number>;
  return (applied[event.streamId] ?? 0) >= event.streamVersion;
}
