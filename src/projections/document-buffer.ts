import type { SqlClient } from '../eventsourcing/sql/sql-client';
import type { FindOptions, ReadModelCollection, ReadModelDocument, ReadModelStore } from './read-model-store';

interface Entry {
  /** The document as this batch left it (`undefined`: absent or deleted). */
  doc: ReadModelDocument | undefined;
  /** Changed by this batch, not yet written. */
  dirty: boolean;
}

/**
 * The read-model collections of one transactional batch: documents read once per batch, changes
 * kept in memory and written with one statement per collection just before the checkpoint (same
 * transaction), instead of two statements per event. Reads of a collection that need the database
 * (`find`, `findBy`, `count`) write its pending changes first, so a handler always sees its own
 * writes. Only the lease holder writes a generation, so nothing else changes these documents
 * meanwhile. @internal
 */
export class DocumentBuffer {
  readonly #store: ReadModelStore;
  readonly #generation: number;
  readonly #tx: SqlClient | undefined;
  readonly #collections = new Map<string, Map<string, Entry>>();

  constructor(store: ReadModelStore, generation: number, tx: SqlClient | undefined) {
    this.#store = store;
    this.#generation = generation;
    this.#tx = tx;
  }

  /** The buffered view of a collection. */
  collection<T extends ReadModelDocument>(name: string): ReadModelCollection<T> {
    let entries = this.#collections.get(name);
    if (!entries) this.#collections.set(name, (entries = new Map()));
    return new BufferedCollection<T>(name, this.#direct<T>(name), entries, () => this.#flush(name));
  }

  /** Writes every pending change (in the batch's transaction). */
  async flush(): Promise<void> {
    for (const name of this.#collections.keys()) await this.#flush(name);
  }

  #direct<T extends ReadModelDocument>(name: string): ReadModelCollection<T> {
    return this.#store.collection<T>(name, {
      generation: this.#generation,
      ...(this.#tx ? { tx: this.#tx } : {}),
    });
  }

  async #flush(name: string): Promise<void> {
    const entries = this.#collections.get(name);
    if (!entries) return;
    const puts: [string, ReadModelDocument][] = [];
    const deletes: string[] = [];
    for (const [id, entry] of entries) {
      if (!entry.dirty) continue;
      if (entry.doc === undefined) deletes.push(id);
      else puts.push([id, entry.doc]);
      entry.dirty = false;
    }
    const direct = this.#direct(name);
    if (deletes.length > 0) await direct.deleteMany(deletes);
    if (puts.length > 0) await direct.putMany(puts);
  }
}

class BufferedCollection<T extends ReadModelDocument> implements ReadModelCollection<T> {
  readonly name: string;
  readonly #direct: ReadModelCollection<T>;
  readonly #entries: Map<string, Entry>;
  readonly #flush: () => Promise<void>;

  constructor(
    name: string,
    direct: ReadModelCollection<T>,
    entries: Map<string, Entry>,
    flush: () => Promise<void>,
  ) {
    this.name = name;
    this.#direct = direct;
    this.#entries = entries;
    this.#flush = flush;
  }

  async #current(id: string): Promise<T | undefined> {
    let entry = this.#entries.get(id);
    if (!entry) {
      entry = { doc: await this.#direct.get(id), dirty: false };
      this.#entries.set(id, entry);
    }
    return entry.doc as T | undefined;
  }

  #set(id: string, doc: T | undefined): void {
    this.#entries.set(id, { doc: doc === undefined ? undefined : structuredCopy(doc), dirty: true });
  }

  async get(id: string): Promise<T | undefined> {
    const doc = await this.#current(id);
    return doc === undefined ? undefined : structuredCopy(doc);
  }

  async put(id: string, document: T): Promise<void> {
    this.#set(id, document);
  }

  async update(id: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    const current = await this.#current(id);
    const next = change(current === undefined ? undefined : structuredCopy(current));
    this.#set(id, next);
    return next;
  }

  async delete(id: string): Promise<boolean> {
    const existed = (await this.#current(id)) !== undefined;
    this.#set(id, undefined);
    return existed;
  }

  async putMany(documents: readonly (readonly [id: string, document: T])[]): Promise<void> {
    for (const [id, document] of documents) this.#set(id, document);
  }

  async deleteMany(ids: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const id of ids) if (await this.delete(id)) deleted++;
    return deleted;
  }

  async find(where?: Partial<T>, options?: FindOptions<T>): Promise<T[]> {
    await this.#flush();
    return this.#direct.find(where, options);
  }

  async findBy<K extends keyof T & string>(field: K, value: T[K], options?: FindOptions<T>): Promise<T[]> {
    await this.#flush();
    return this.#direct.findBy(field, value, options);
  }

  async count(where?: Partial<T>): Promise<number> {
    await this.#flush();
    return this.#direct.count(where);
  }
}

/** A deep copy of a JSON document (documents are JSON by contract). */
function structuredCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
