import { ConfigurationError } from '../core/errors';
import { metadataRegistry } from '../metadata/metadata-registry';
import { AGGREGATE, APPLY, type AggregateRecord } from './aggregate.decorators';

type Applier = (event: object) => void;
const appliers = new WeakMap<Function, Map<Function, Applier[]>>();

/** The `@Apply` methods of an aggregate class, by event class (inherited ones included). @internal */
export function appliersOf(target: Function): Map<Function, Applier[]> {
  let map = appliers.get(target);
  if (!map) {
    map = new Map();
    const proto = target.prototype as Record<string | symbol, unknown>;
    for (const record of metadataRegistry.list(APPLY, target)) {
      const fn = proto[record.method];
      if (typeof fn !== 'function') continue;
      const list = map.get(record.event) ?? [];
      list.push(fn as Applier);
      map.set(record.event, list);
    }
    appliers.set(target, map);
  }
  return map;
}

/** The `@Aggregate` record of a class, or a clear error. @internal */
export function aggregateRecordOf(target: Function): AggregateRecord {
  const record = metadataRegistry.get(AGGREGATE, target);
  if (!record)
    throw new ConfigurationError(`${target.name} is not an aggregate: decorate it with @Aggregate().`);
  return record;
}

/**
 * Base class of event-sourced aggregates. Behaviour methods check invariants and call
 * `this.apply(new SomethingHappened(…))`; `@Apply(SomethingHappened)` methods fold each event into
 * the state — for new events at once, and for stored ones when the aggregate is loaded.
 */
export abstract class AggregateRoot {
  /** The aggregate's id (set by the repository). */
  id = '';
  /** Version of the last stored event folded into this instance (0 for a new aggregate). */
  version = 0;
  #uncommitted: object[] = [];

  /** Records a new event and folds it into the state at once. */
  protected apply(event: object): void {
    this.#fold(event);
    this.#uncommitted.push(event);
  }

  /** Events raised since the aggregate was loaded or last saved. */
  get uncommittedEvents(): readonly object[] {
    return this.#uncommitted;
  }

  /** Folds stored events (at versions `version + 1…`) into the state. @internal */
  replay(events: readonly object[], lastVersion: number): void {
    for (const event of events) this.#fold(event);
    this.version = lastVersion;
  }

  /** Marks the uncommitted events as stored at the given version. @internal */
  markCommitted(version: number): void {
    this.#uncommitted = [];
    this.version = version;
  }

  /**
   * The state to store in a snapshot: by default a structured clone of the own enumerable fields
   * (without `id` and `version`). Override with `restoreSnapshot` for custom state.
   */
  toSnapshot(): Record<string, unknown> {
    const state: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this)) {
      if (key !== 'id' && key !== 'version') state[key] = value;
    }
    return structuredClone(state);
  }

  /** Restores the state saved by {@link AggregateRoot.toSnapshot}. */
  restoreSnapshot(state: Record<string, unknown>): void {
    Object.assign(this, structuredClone(state));
  }

  #fold(event: object): void {
    const list = appliersOf(this.constructor).get(event.constructor);
    if (!list) return; // events without an @Apply method change no state
    for (const fn of list) fn.call(this, event);
  }
}
