import { SerializationError } from '../../core/errors';
import { DEFAULT_EVENT_STORE_SCHEMA, migrateEventStore, quoteSchema } from '../../eventsourcing/sql/schema';
import type { SqlClient } from '../../eventsourcing/sql/sql-client';
import { checkGeneration, resolveFindOptions, whereEntries } from '../memory-read-model-store';
import type {
  CollectionOptions,
  FindOptions,
  ReadModelCollection,
  ReadModelDocument,
  ReadModelStore,
} from '../read-model-store';

/** Options of {@link SqlReadModelStore}. */
export interface SqlReadModelStoreOptions {
  /** Schema holding the tables (created by `migrateEventStore`, v4). @default 'potter' */
  schema?: string;
  /** Close `client` in `close()`. Set it when the store should own the client. @default false */
  closeClient?: boolean;
}

/** Options of {@link SqlReadModelStore.create}. */
export interface CreateSqlReadModelStoreOptions {
  /** @default 'potter' */
  schema?: string;
  /** Create or upgrade the tables first (see `migrateEventStore`). @default true */
  migrate?: boolean;
}

interface Tables {
  documents: string;
  collections: string;
}

/**
 * Read models as JSONB documents in PostgreSQL (or PGlite): `<schema>.read_models`, keyed by
 * collection, generation and id, and `<schema>.read_model_collections`, the generation readers see
 * of each collection attached to a projection. Created by the event store's migrations.
 *
 * A read without an explicit generation resolves the active one inside its own statement, so
 * {@link SqlReadModelStore.activate} (one `UPDATE`) switches readers atomically. `find` filters
 * with `doc @> …` (served by a GIN index) and sorts by the field's `jsonb` value (strings by the
 * database's collation), then by id.
 */
export class SqlReadModelStore implements ReadModelStore {
  /** The database the documents live in (for same-transaction checkpoints). */
  readonly sql: SqlClient;
  /** The schema of the store's tables. */
  readonly schema: string;
  readonly #tables: Tables;
  readonly #closeClient: boolean;

  /**
   * A store on `client`, migrating the schema first unless `migrate: false`. `close()` leaves
   * the client open.
   */
  static async create(
    client: SqlClient,
    options: CreateSqlReadModelStoreOptions = {},
  ): Promise<SqlReadModelStore> {
    const schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    if (options.migrate ?? true) await migrateEventStore(client, { schema });
    return new SqlReadModelStore(client, { schema });
  }

  /** The store beside an SQL event store: same client, same schema (its migrations created the tables). */
  static for(eventStore: { client: SqlClient; schema: string }): SqlReadModelStore {
    return new SqlReadModelStore(eventStore.client, { schema: eventStore.schema });
  }

  /** A store on `client` whose tables already exist (see {@link SqlReadModelStore.create}). */
  constructor(client: SqlClient, options: SqlReadModelStoreOptions = {}) {
    this.sql = client;
    this.schema = options.schema ?? DEFAULT_EVENT_STORE_SCHEMA;
    const schema = quoteSchema(this.schema);
    this.#tables = { documents: `${schema}.read_models`, collections: `${schema}.read_model_collections` };
    this.#closeClient = options.closeClient ?? false;
  }

  /** A collection (created on first write), of `options.generation` or the one readers see, in `options.tx` if given. */
  collection<T extends ReadModelDocument = ReadModelDocument>(
    name: string,
    options: CollectionOptions = {},
  ): ReadModelCollection<T> {
    checkGeneration(options.generation);
    return new SqlReadModelCollection<T>(
      name,
      this.#tables,
      options.tx ?? this.sql,
      options.generation ?? null,
    );
  }

  /** Declares that `collection` belongs to `projection` (at generation 1 if new). Idempotent. */
  async attach(collection: string, projection: string, tx?: SqlClient): Promise<void> {
    await (tx ?? this.sql).query(
      `INSERT INTO ${this.#tables.collections} (collection, projection, generation) VALUES ($1, $2, 1)
       ON CONFLICT (collection) DO NOTHING`,
      [collection, projection],
    );
  }

  /** Makes readers of every collection attached to `projection` see `generation` (one statement). */
  async activate(projection: string, generation: number, tx?: SqlClient): Promise<void> {
    checkGeneration(generation);
    await (tx ?? this.sql).query(
      `UPDATE ${this.#tables.collections} SET generation = $2 WHERE projection = $1`,
      [projection, generation],
    );
  }

  /** Deletes the documents of one generation of every collection attached to `projection`. */
  async dropGeneration(projection: string, generation: number, tx?: SqlClient): Promise<void> {
    await (tx ?? this.sql).query(
      `DELETE FROM ${this.#tables.documents}
        WHERE generation = $2
          AND collection IN (SELECT collection FROM ${this.#tables.collections} WHERE projection = $1)`,
      [projection, generation],
    );
  }

  /** Closes the client if the store owns it (`closeClient`). */
  async close(): Promise<void> {
    if (this.#closeClient) await this.sql.close();
  }
}

/**
 * One collection. Every statement takes `$1` = collection and `$2` = the explicit generation or
 * `NULL`, and resolves the generation itself (see {@link generationOf}).
 */
class SqlReadModelCollection<T extends ReadModelDocument> implements ReadModelCollection<T> {
  readonly name: string;
  readonly #tables: Tables;
  readonly #db: SqlClient;
  readonly #generation: number | null;
  /** `$2` if given, else the generation readers see (1 for a collection never attached). */
  readonly #resolved: string;

  constructor(name: string, tables: Tables, db: SqlClient, generation: number | null) {
    this.name = name;
    this.#tables = tables;
    this.#db = db;
    this.#generation = generation;
    this.#resolved = `coalesce($2::integer, (SELECT c.generation FROM ${tables.collections} c WHERE c.collection = $1), 1)`;
  }

  async get(id: string): Promise<T | undefined> {
    const { rows } = await this.#db.query<{ doc: T | string }>(
      `SELECT doc FROM ${this.#tables.documents} WHERE collection = $1 AND generation = ${this.#resolved} AND id = $3`,
      [this.name, this.#generation, id],
    );
    return rows[0] && parse(rows[0].doc);
  }

  async put(id: string, document: T): Promise<void> {
    await this.#db.query(
      `INSERT INTO ${this.#tables.documents} (collection, generation, id, doc)
       VALUES ($1, ${this.#resolved}, $3, $4::jsonb)
       ON CONFLICT (collection, generation, id) DO UPDATE SET doc = EXCLUDED.doc`,
      [this.name, this.#generation, id, encode(document, this.name, id)],
    );
  }

  async update(id: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    return this.#db.transaction(async (tx) => {
      for (;;) {
        const { rows } = await tx.query<{ generation: number; doc: T | string }>(
          `SELECT generation, doc FROM ${this.#tables.documents}
            WHERE collection = $1 AND generation = ${this.#resolved} AND id = $3
            FOR UPDATE`,
          [this.name, this.#generation, id],
        );
        const row = rows[0];
        const next = change(row && parse(row.doc));
        if (row) {
          if (next === undefined) {
            await tx.query(
              `DELETE FROM ${this.#tables.documents} WHERE collection = $1 AND generation = $2 AND id = $3`,
              [this.name, row.generation, id],
            );
          } else {
            await tx.query(
              `UPDATE ${this.#tables.documents} SET doc = $4::jsonb
                WHERE collection = $1 AND generation = $2 AND id = $3`,
              [this.name, row.generation, id, encode(next, this.name, id)],
            );
          }
          return next;
        }
        if (next === undefined) return undefined;
        // Nothing to lock: another writer may create the document meanwhile. Its insert wins (ours
        // waits for its transaction and does nothing); then read again, and change its document.
        const inserted = await tx.query(
          `INSERT INTO ${this.#tables.documents} (collection, generation, id, doc)
           VALUES ($1, ${this.#resolved}, $3, $4::jsonb)
           ON CONFLICT (collection, generation, id) DO NOTHING
           RETURNING 1 AS inserted`,
          [this.name, this.#generation, id, encode(next, this.name, id)],
        );
        if (inserted.rows.length > 0) return next;
      }
    });
  }

  async delete(id: string): Promise<boolean> {
    const { rows } = await this.#db.query(
      `DELETE FROM ${this.#tables.documents}
        WHERE collection = $1 AND generation = ${this.#resolved} AND id = $3
        RETURNING 1 AS deleted`,
      [this.name, this.#generation, id],
    );
    return rows.length > 0;
  }

  async putMany(documents: readonly (readonly [id: string, document: T])[]): Promise<void> {
    if (documents.length === 0) return;
    const ids = documents.map(([id]) => id);
    const docs = documents.map(([id, document]) => encode(document, this.name, id));
    // Later entries for the same id win, as with puts one after the other.
    await this.#db.query(
      `INSERT INTO ${this.#tables.documents} (collection, generation, id, doc)
       SELECT DISTINCT ON (x.id) $1, ${this.#resolved}, x.id, x.doc::jsonb
       FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS x(id, doc, n)
       ORDER BY x.id, x.n DESC
       ON CONFLICT (collection, generation, id) DO UPDATE SET doc = EXCLUDED.doc`,
      [this.name, this.#generation, ids, docs],
    );
  }

  async deleteMany(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const { rows } = await this.#db.query<{ deleted: number }>(
      `WITH gone AS (
         DELETE FROM ${this.#tables.documents}
         WHERE collection = $1 AND generation = ${this.#resolved} AND id = ANY($3::text[])
         RETURNING 1
       ) SELECT count(*)::int AS deleted FROM gone`,
      [this.name, this.#generation, [...ids]],
    );
    return rows[0]?.deleted ?? 0;
  }

  async find(where?: Partial<T>, options?: FindOptions<T>): Promise<T[]> {
    const { orderBy, direction, limit, offset } = resolveFindOptions(options);
    const filter = this.#filter(where, 3);
    const order = direction === 'desc' ? 'DESC' : 'ASC';
    // `orderBy` is checked (letters, digits, `_`) and passed as a parameter; `doc -> NULL` sorts by id alone.
    const { rows } = await this.#db.query<{ doc: T | string }>(
      `SELECT doc FROM ${this.#tables.documents}
        WHERE collection = $1 AND generation = ${this.#resolved}${filter.sql}
        ORDER BY doc -> $${filter.next}::text ${order}, id ${order}
        LIMIT $${filter.next + 1} OFFSET $${filter.next + 2}`,
      [this.name, this.#generation, ...filter.params, orderBy ?? null, limit, offset],
    );
    return rows.map((row) => parse(row.doc));
  }

  async findBy<K extends keyof T & string>(field: K, value: T[K], options?: FindOptions<T>): Promise<T[]> {
    const where: Partial<T> = {};
    where[field] = value;
    return this.find(where, options);
  }

  async count(where?: Partial<T>): Promise<number> {
    const filter = this.#filter(where, 3);
    const { rows } = await this.#db.query<{ count: string | number | bigint }>(
      `SELECT count(*) AS count FROM ${this.#tables.documents}
        WHERE collection = $1 AND generation = ${this.#resolved}${filter.sql}`,
      [this.name, this.#generation, ...filter.params],
    );
    return Number(rows[0]?.count ?? 0);
  }

  /**
   * The `where` filter as SQL from parameter `$first` on: containment (`@>`, served by the GIN
   * index) and, since containment is looser for arrays and objects, exact equality of every field.
   */
  #filter(where: Partial<T> | undefined, first: number): { sql: string; params: unknown[]; next: number } {
    const entries = whereEntries(where);
    if (entries.length === 0) return { sql: '', params: [], next: first };
    const filter = JSON.stringify(Object.fromEntries(entries));
    return {
      sql: ` AND doc @> $${first}::jsonb
        AND NOT EXISTS (SELECT 1 FROM jsonb_each($${first}::jsonb) AS w(key, value) WHERE doc -> w.key <> w.value)`,
      params: [filter],
      next: first + 1,
    };
  }
}

function parse<T>(doc: T | string): T {
  return typeof doc === 'string' ? (JSON.parse(doc) as T) : doc;
}

function encode(document: ReadModelDocument, collection: string, id: string): string {
  try {
    return JSON.stringify(document);
  } catch (cause) {
    throw new SerializationError(`Read-model document ${collection}/${id} is not JSON.`, {
      cause,
      details: { collection, id },
    });
  }
}
