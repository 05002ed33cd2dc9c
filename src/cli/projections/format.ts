import type { GlobalPosition } from '../../eventsourcing/event-store';
import type { ParkedEvent } from '../../projections/projection-store';
import type { ProjectionStatus } from '../../projections/projection-engine';

/**
 * A position for people: `00000000000000000756:00000000000000000004` → `756:4`; the start of the
 * log → `start`.
 */
export function shortPosition(position: GlobalPosition): string {
  if (position === '') return 'start';
  return position.replace(/(^|[^0-9])0+(?=[0-9])/g, '$1');
}

/** An instance id, shortened to its first 8 characters. */
export function shortOwner(owner: string | undefined): string {
  if (owner === undefined) return '-';
  return owner.length > 8 ? owner.slice(0, 8) : owner;
}

/**
 * What a projection is doing, as seen from the store (the CLI runs none itself): `faulted`,
 * `paused`, `rebuilding`, `request: …` (waiting to be carried out), `running` (an instance holds
 * the lease) or `idle` (no instance runs it).
 */
export function describeState(status: ProjectionStatus): string {
  if (status.status === 'faulted') return 'faulted';
  if (status.status === 'stopped') return 'paused';
  if (status.request) return `pending ${status.request.action}`;
  if (status.shadow) return 'rebuilding';
  return status.owner ? 'running' : 'idle';
}

/** Pads cells into aligned columns (two spaces apart). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((cell, index) =>
    Math.max(cell.length, ...rows.map((row) => (row[index] ?? '').length)),
  );
  const line = (row: readonly string[]): string =>
    row
      .map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** `potter projections list`: one row per projection. */
export function statusTable(statuses: readonly ProjectionStatus[]): string[] {
  return table(
    ['NAME', 'STATE', 'OWNER', 'POSITION', 'LAG', 'PARKED', 'GEN'],
    statuses.map((s) => [
      s.name,
      describeState(s),
      shortOwner(s.owner),
      shortPosition(s.position),
      s.lag === undefined ? '?' : String(s.lag),
      String(s.parked),
      s.shadow ? `${s.generation}→${s.shadow.generation}` : String(s.generation),
    ]),
  );
}

/** `potter projections status <name>`: every field, one per line. */
export function statusDetails(status: ProjectionStatus): string[] {
  const lines: [string, string][] = [
    ['state', describeState(status)],
    ['status', status.status],
    [
      'delivery',
      status.delivery === 'transactional' ? 'transactional (exactly-once effect)' : 'at-least-once',
    ],
    ['owner', status.owner ?? 'none (no instance runs it)'],
    ['position', `${shortPosition(status.position)}${status.position ? ` (${status.position})` : ''}`],
    ['lag', status.lag === undefined ? 'unknown' : `${status.lag} event${status.lag === 1 ? '' : 's'}`],
    ['generation', String(status.generation)],
    [
      'shadow',
      status.shadow
        ? `building generation ${status.shadow.generation}, at ${shortPosition(status.shadow.position)}`
        : 'none',
    ],
    ['parked', String(status.parked)],
    [
      'request',
      status.request
        ? `${status.request.action}${status.request.blueGreen ? ' (blue/green)' : ''}${status.request.streamId ? ` of ${status.request.streamId}` : ''}, requested ${status.request.requestedAt}`
        : 'none',
    ],
  ];
  const error = status.lastError;
  if (error) {
    lines.push([
      'last error',
      `${error.code}: ${error.message} (event ${error.eventType} ${error.eventId} of ${error.streamId} at ${shortPosition(error.position)}, ${error.attempts} attempt${error.attempts === 1 ? '' : 's'}, ${error.at})`,
    ]);
  } else {
    lines.push(['last error', 'none']);
  }
  lines.push(['updated', status.updatedAt ? status.updatedAt.toISOString() : 'never (it has not run yet)']);
  const width = Math.max(...lines.map(([label]) => label.length)) + 1;
  return [status.name, ...lines.map(([label, value]) => `  ${`${label}:`.padEnd(width)} ${value}`)];
}

/** `potter projections parked <name>`: one row per parked event, in retry order. */
export function parkedTable(parked: readonly ParkedEvent[]): string[] {
  return table(
    ['SEQ', 'STREAM', 'VERSION', 'TYPE', 'POSITION', 'PARKED AT', 'REASON'],
    parked.map((p) => [
      String(p.seq),
      p.streamId,
      String(p.event.streamVersion),
      p.event.type,
      shortPosition(p.event.position),
      p.parkedAt.toISOString(),
      p.reason,
    ]),
  );
}

/** A duration for people: `850ms`, `12.3s`, `4m05s`, `1h02m`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
