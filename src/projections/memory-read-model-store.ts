import { ConfigurationError } from '../core/errors';
import type { SqlClient } from '../eventsourcing/sql/sql-client';
import type {
  CollectionOptions,
  FindOptions,
  ReadModelCollection,
  ReadModelDocument,
  ReadModelStore,
} from './read-model-store';

/** The most documents one `find` returns. @internal */
export const MAX_FIND_LIMIT = 10_000;

/** {@link FindOptions} checked, with their defaults. @internal */
export interface ResolvedFindOptions {
  orderBy: string | undefined;
  direction: 'asc' | 'desc';
  limit: number;
  offset: number;
}

/** Checks `find` options (field name, direction, limit, offset) and fills in the defaults. @internal */
export function resolveFindOptions<T>(options: FindOptions<T> = {}): ResolvedFindOptions {
  const { orderBy, direction = 'asc', limit = 100, offset = 0 } = options;
  if (orderBy !== undefined && (typeof orderBy !== 'string' || !/^[A-Za-z0-9_]+$/.test(orderBy))) {
    throw new ConfigurationError(
      `Cannot order read-model documents by "${String(orderBy)}": use a top-level field name of letters, digits and "_".`,
      { orderBy },
    );
  }
  if (direction !== 'asc' && direction !== 'desc') {
    throw new ConfigurationError(`Unknown sort direction "${String(direction)}": use 'asc' or 'desc'.`, {
      direction,
    });
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FIND_LIMIT) {
    throw new ConfigurationError(
      `A find limit must be an integer from 1 to ${MAX_FIND_LIMIT}, not ${limit}.`,
      {
        limit,
      },
    );
  }
  if (!Number.isInteger(offset) || offset < 0) {
    throw new ConfigurationError(`A find offset must be a non-negative integer, not ${offset}.`, { offset });
  }
  return { orderBy, direction, limit, offset };
}

/** The defined top-level values of a `where` filter (a plain object, or nothing). @internal */
export function whereEntries(where: object | undefined): [string, unknown][] {
  if (where === undefined || where === null) return [];
  if (typeof where !== 'object' || Array.isArray(where)) {
    throw new ConfigurationError('A read-model filter must be an object of top-level field values.', {
      where,
    });
  }
  return Object.entries(where).filter(([, value]) => value !== undefined);
}

/** Checks a generation option: a positive integer. @internal */
export function checkGeneration(generation: number | undefined): void {
  if (generation !== undefined && (!Number.isInteger(generation) || generation < 1)) {
    throw new ConfigurationError(`A read-model generation must be a positive integer, not ${generation}.`, {
      generation,
    });
  }
}

interface CollectionState {
  projection: string;
  generation: number;
}

/**
 * Read models in this process's memory. Documents are copied on the way in and out, so callers
 * never share state with the store. `find` orders like PostgreSQL's `jsonb` (by type, then value;
 * a missing field last), strings by code unit.
 */
export class MemoryReadModelStore implements ReadModelStore {
  /** `collection \0 generation` → id → document. */
  readonly #documents = new Map<string, Map<string, ReadModelDocument>>();
  readonly #collections = new Map<string, CollectionState>();

  /** A collection (created on first write), of `options.generation` or the one readers see. */
  collection<T extends ReadModelDocument = ReadModelDocument>(
    name: string,
    options: CollectionOptions = {},
  ): ReadModelCollection<T> {
    checkGeneration(options.generation);
    return new MemoryReadModelCollection<T>(name, () =>
      this.#documentsOf(name, options.generation ?? this.#collections.get(name)?.generation ?? 1),
    );
  }

  /** Declares that `collection` belongs to `projection` (at generation 1 if new). Idempotent. */
  async attach(collection: string, projection: string, _tx?: SqlClient): Promise<void> {
    if (!this.#collections.has(collection)) this.#collections.set(collection, { projection, generation: 1 });
  }

  /** Makes readers of every collection attached to `projection` see `generation`. */
  async activate(projection: string, generation: number, _tx?: SqlClient): Promise<void> {
    checkGeneration(generation);
    for (const state of this.#collections.values()) {
      if (state.projection === projection) state.generation = generation;
    }
  }

  /** Deletes the documents of one generation of every collection attached to `projection`. */
  async dropGeneration(projection: string, generation: number, _tx?: SqlClient): Promise<void> {
    for (const [collection, state] of this.#collections) {
      if (state.projection === projection) this.#documents.delete(key(collection, generation));
    }
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  #documentsOf(collection: string, generation: number): Map<string, ReadModelDocument> {
    const k = key(collection, generation);
    let documents = this.#documents.get(k);
    if (!documents) {
      documents = new Map();
      this.#documents.set(k, documents);
    }
    return documents;
  }
}

/** One collection; resolves its generation at every call, so it follows `activate`. */
class MemoryReadModelCollection<T extends ReadModelDocument> implements ReadModelCollection<T> {
  readonly name: string;
  readonly #documents: () => Map<string, ReadModelDocument>;

  constructor(name: string, documents: () => Map<string, ReadModelDocument>) {
    this.name = name;
    this.#documents = documents;
  }

  async get(id: string): Promise<T | undefined> {
    const document = this.#documents().get(id);
    return document && (copy(document) as T);
  }

  async put(id: string, document: T): Promise<void> {
    this.#documents().set(id, copy(document));
  }

  async update(id: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    const documents = this.#documents();
    const current = documents.get(id);
    const next = change(current && (copy(current) as T));
    if (next === undefined) {
      documents.delete(id);
      return undefined;
    }
    // The store keeps its own copy; the caller keeps the object it built.
    documents.set(id, copy(next));
    return next;
  }

  async delete(id: string): Promise<boolean> {
    return this.#documents().delete(id);
  }

  async putMany(documents: readonly (readonly [id: string, document: T])[]): Promise<void> {
    const stored = this.#documents();
    for (const [id, document] of documents) stored.set(id, copy(document));
  }

  async deleteMany(ids: readonly string[]): Promise<number> {
    const stored = this.#documents();
    let deleted = 0;
    for (const id of ids) if (stored.delete(id)) deleted++;
    return deleted;
  }

  async find(where?: Partial<T>, options?: FindOptions<T>): Promise<T[]> {
    const { orderBy, direction, limit, offset } = resolveFindOptions(options);
    const matching = this.#matching(where);
    matching.sort(([idA, a], [idB, b]) => {
      const byField = orderBy === undefined ? 0 : compareJsonb(a[orderBy], b[orderBy]);
      return byField !== 0 ? byField : compareStrings(idA, idB);
    });
    if (direction === 'desc') matching.reverse();
    return matching.slice(offset, offset + limit).map(([, document]) => copy(document) as T);
  }

  async findBy<K extends keyof T & string>(field: K, value: T[K], options?: FindOptions<T>): Promise<T[]> {
    const where: Partial<T> = {};
    where[field] = value;
    return this.find(where, options);
  }

  async count(where?: Partial<T>): Promise<number> {
    return this.#matching(where).length;
  }

  #matching(where: Partial<T> | undefined): [string, ReadModelDocument][] {
    const conditions = whereEntries(where);
    return [...this.#documents()].filter(([, document]) =>
      conditions.every(([field, value]) => field in document && sameJson(document[field], value)),
    );
  }
}

function key(collection: string, generation: number): string {
  return `${collection}\u0000${generation}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rank of a JSON type in PostgreSQL's `jsonb` order (a missing value sorts after all). */
function typeRank(value: unknown): number {
  if (value === undefined) return 6;
  if (value === null) return 0;
  if (typeof value === 'string') return 1;
  if (typeof value === 'number') return 2;
  if (typeof value === 'boolean') return 3;
  if (Array.isArray(value)) return 4;
  return 5;
}

/** Orders two JSON values like PostgreSQL's `jsonb` (scalars by value; containers by JSON text). */
function compareJsonb(a: unknown, b: unknown): number {
  const rank = typeRank(a) - typeRank(b);
  if (rank !== 0) return rank;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b);
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a === null || a === undefined) return 0;
  return compareStrings(JSON.stringify(a), JSON.stringify(b));
}

/** Equality of JSON values (object keys in any order; `-0` equals `0`). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  }
  const entriesA = Object.entries(a).filter(([, v]) => v !== undefined);
  const objectB = b as Record<string, unknown>;
  const keysB = Object.keys(objectB).filter((k) => objectB[k] !== undefined);
  return (
    entriesA.length === keysB.length && entriesA.every(([k, v]) => k in objectB && sameJson(v, objectB[k]))
  );
}

/**
 * A deep copy of a document: plain objects, arrays and primitives are copied directly (several
 * times faster than `structuredClone`, which read models call on every event); anything else
 * (Date, Map, typed arrays…) goes through `structuredClone`.
 */
function copy<T>(value: T): T {
  return copyValue(value) as T;
}

function copyValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copyValue(value[i]);
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = copyValue((value as Record<string, unknown>)[key]);
  return out;
}
