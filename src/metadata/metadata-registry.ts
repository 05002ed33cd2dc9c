import type { Constructor } from '../core';
import { HANDLER, INJECT, INJECTABLE, MESSAGE, MODULE, type MetadataKey } from './keys';
import type { HandlerRecord, InjectRecord, InjectableRecord, MessageRecord, ModuleRecord } from './records';

/**
 * The one place decorators record into. Values are stored per key and per class; `list` also
 * returns what base classes recorded. The scanner reads it through the typed accessors.
 */
export class MetadataRegistry {
  readonly #store = new Map<symbol, Map<Function, unknown[]>>();

  /** Records `value` under `key` for `target`. */
  add<T>(key: MetadataKey<T>, target: Function, value: T): void {
    let byTarget = this.#store.get(key.id);
    if (!byTarget) this.#store.set(key.id, (byTarget = new Map()));
    const values = byTarget.get(target);
    if (values) values.push(value);
    else byTarget.set(target, [value]);
  }

  /** Replaces whatever `target` recorded under `key` with the single `value`. */
  set<T>(key: MetadataKey<T>, target: Function, value: T): void {
    let byTarget = this.#store.get(key.id);
    if (!byTarget) this.#store.set(key.id, (byTarget = new Map()));
    byTarget.set(target, [value]);
  }

  /** The last value `target` itself recorded under `key`. */
  get<T>(key: MetadataKey<T>, target: Function): T | undefined {
    const values = this.#store.get(key.id)?.get(target);
    return values?.[values.length - 1] as T | undefined;
  }

  /** Every value recorded under `key` by `target` and its base classes (base classes first). */
  list<T>(key: MetadataKey<T>, target: Function): T[] {
    const byTarget = this.#store.get(key.id);
    if (!byTarget) return [];
    const chain: Function[] = [];
    for (
      let c: unknown = target;
      typeof c === 'function' && c !== Function.prototype;
      c = Object.getPrototypeOf(c)
    ) {
      chain.unshift(c as Function);
    }
    return chain.flatMap((c) => (byTarget.get(c) ?? []) as T[]);
  }

  /** Every class that recorded something under `key`. */
  targets(key: MetadataKey<unknown>): Function[] {
    return [...(this.#store.get(key.id)?.keys() ?? [])];
  }

  /** Message metadata of a class (`@Command`, `@Query`, `@Event`). */
  getMessage(target: Function): MessageRecord | undefined {
    return this.get(MESSAGE, target);
  }

  /** Every decorated message class. */
  messages(): { target: Constructor; record: MessageRecord }[] {
    return this.targets(MESSAGE).map((t) => ({ target: t as Constructor, record: this.get(MESSAGE, t)! }));
  }

  /** Handler declarations of a class, its own and inherited ones. */
  getHandlers(target: Function): HandlerRecord[] {
    return this.list(HANDLER, target);
  }

  /** `@Module` options of a class. */
  getModule(target: Function): ModuleRecord | undefined {
    return this.get(MODULE, target);
  }

  /** `@Injectable` options of a class. */
  getInjectable(target: Function): InjectableRecord | undefined {
    return this.list(INJECTABLE, target).at(-1);
  }

  /** `@Inject` overrides of constructor parameters, by index. */
  getInjections(target: Function): Map<number, InjectRecord> {
    return new Map(this.list(INJECT, target).map((r) => [r.index, r]));
  }
}

/** The process-wide registry every Potter decorator writes to. */
export const metadataRegistry = new MetadataRegistry();
