import type { SqlClient } from '../eventsourcing/sql/sql-client';

/** A JSON document of a read model. */
export type ReadModelDocument = Record<string, unknown>;

/** Options of {@link ReadModelCollection.find}. */
export interface FindOptions<T> {
  /** Sort by this top-level field (ties broken by id). @default the id */
  orderBy?: keyof T & string;
  /** @default 'asc' */
  direction?: 'asc' | 'desc';
  /** @default 100 */
  limit?: number;
  /** Skip this many (for simple paging). @default 0 */
  offset?: number;
}

/**
 * One collection of keyed JSON documents. Reads and writes go to one generation of the collection:
 * outside a projection, the generation readers currently see; inside a projection handler, the one
 * the projection is building.
 */
export interface ReadModelCollection<T extends ReadModelDocument> {
  readonly name: string;
  /** The document with this id, or `undefined`. */
  get(id: string): Promise<T | undefined>;
  /** Stores (inserts or replaces) a document. */
  put(id: string, document: T): Promise<void>;
  /**
   * Reads, changes and stores a document in one step (`undefined` when missing); returning
   * `undefined` deletes it. Use it inside a projection's transaction for read-modify-write.
   */
  update(id: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  /** Deletes a document; `true` if it existed. */
  delete(id: string): Promise<boolean>;
  /** Stores (inserts or replaces) several documents at once (one statement on SQL stores). */
  putMany(documents: readonly (readonly [id: string, document: T])[]): Promise<void>;
  /** Deletes several documents at once; returns how many existed. */
  deleteMany(ids: readonly string[]): Promise<number>;
  /** Documents whose top-level fields equal the given values (all of them), sorted and paged. */
  find(where?: Partial<T>, options?: FindOptions<T>): Promise<T[]>;
  /** Documents whose top-level `field` equals `value`. */
  findBy<K extends keyof T & string>(field: K, value: T[K], options?: FindOptions<T>): Promise<T[]>;
  /** Number of documents (matching `where`). */
  count(where?: Partial<T>): Promise<number>;
}

/** Options of {@link ReadModelStore.collection}. */
export interface CollectionOptions {
  /** Work in this generation instead of the one readers see (projections building a new one). */
  generation?: number;
  /** Run in this transaction (SQL stores; the projection's transaction). */
  tx?: SqlClient;
}

/**
 * A small keyed document store for read models that do not hand-write SQL. Adapters:
 * {@link MemoryReadModelStore} and `SqlReadModelStore` (PostgreSQL / PGlite, JSONB). Every adapter
 * passes `test/contracts/read-model-store.contract.ts`.
 *
 * Collections have generations so a blue/green rebuild can fill generation `n + 1` while readers
 * keep seeing `n`, then switch every collection of the projection at once ({@link activate}).
 */
export interface ReadModelStore {
  /** Set by SQL stores: the database the documents live in (for same-transaction checkpoints). */
  readonly sql?: SqlClient;
  /** A collection (created on first write). */
  collection<T extends ReadModelDocument = ReadModelDocument>(
    name: string,
    options?: CollectionOptions,
  ): ReadModelCollection<T>;
  /** Declares that `collection` belongs to `projection` (so {@link activate} switches it). Idempotent. */
  attach(collection: string, projection: string, tx?: SqlClient): Promise<void>;
  /** Makes readers of every collection attached to `projection` see `generation` (atomically). */
  activate(projection: string, generation: number, tx?: SqlClient): Promise<void>;
  /** Deletes the documents of one generation of every collection attached to `projection`. */
  dropGeneration(projection: string, generation: number, tx?: SqlClient): Promise<void>;
  /** Releases resources. */
  close(): Promise<void>;
}
