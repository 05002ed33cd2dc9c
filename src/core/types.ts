/** A class that can be instantiated with `new`. */
export type Constructor<T = object> = new (...args: never[]) => T;

/** Any class, including abstract ones (used as injection tokens). */
export type AbstractConstructor<T = object> = abstract new (...args: never[]) => T;

/** A plain JSON-compatible value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Returns the class name of a constructor, or a readable stand-in. */
export function nameOf(target: unknown): string {
  if (typeof target === 'function') return target.name || '<anonymous class>';
  if (typeof target === 'symbol') return target.description ?? target.toString();
  if (typeof target === 'string') return target;
  if (target && typeof target === 'object') return nameOf(target.constructor);
  return String(target);
}
