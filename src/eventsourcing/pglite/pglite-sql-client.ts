import type { PGlite } from '@electric-sql/pglite';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigurationError } from '../../core/errors';
import type { SqlClient, SqlResult } from '../sql/sql-client';
import {
  dynamicImportWorks,
  isDynamicImportRefused,
  loadPGlite,
  resolvePGlite,
  type PGliteDatabase,
} from './pglite-database';
import { PGliteWorkerDatabase } from './pglite-worker-database';

/** Where PGlite runs: see {@link PGliteSqlClientOptions.runIn}. */
export type PGliteRunIn = 'auto' | 'process' | 'worker';

/** Options of {@link PGliteSqlClient.open}. */
export interface PGliteSqlClientOptions {
  /** A database of yours (used as is; `close()` leaves it open). */
  db?: PGlite | PGliteDatabase;
  /** Directory the database persists to (created if missing). @default in memory */
  dataDir?: string;
  /**
   * `'process'` runs PGlite on this thread; `'worker'` in a worker thread (queries cross by
   * message). `'auto'` picks `'process'` unless this module system refuses the dynamic `import()`
   * PGlite needs while starting (Jest without `--experimental-vm-modules`), then `'worker'`.
   * @default 'auto'
   */
  runIn?: PGliteRunIn;
}

/**
 * {@link SqlClient} over PGlite, PostgreSQL compiled to WebAssembly: one connection, so statements
 * and transactions run one at a time (a query made while a transaction is open waits for it).
 */
export class PGliteSqlClient implements SqlClient {
  /** The database queries run on. */
  readonly db: PGliteDatabase;
  readonly #closeDatabase: boolean;

  constructor(db: PGliteDatabase, options: { closeDatabase?: boolean } = {}) {
    this.db = db;
    this.#closeDatabase = options.closeDatabase ?? false;
  }

  /** Opens (or creates) a database and returns a client that closes it on `close()`. */
  static async open(options: PGliteSqlClientOptions = {}): Promise<PGliteSqlClient> {
    if (options.db) return new PGliteSqlClient(options.db);
    const runIn = options.runIn ?? 'auto';
    if (!['auto', 'process', 'worker'].includes(runIn)) {
      throw new ConfigurationError(
        `Unknown PGlite runIn "${String(runIn)}": use 'auto', 'process' or 'worker'.`,
        {
          runIn,
        },
      );
    }
    return new PGliteSqlClient(await startDatabase(runIn, options.dataDir), { closeDatabase: true });
  }

  async query<R extends object = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<SqlResult<R>> {
    const { rows } = await this.db.query<R>(text, [...params]);
    return { rows };
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PGliteTransactionClient(tx)));
  }

  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    return this.db.listen(channel, onNotify);
  }

  async close(): Promise<void> {
    if (this.#closeDatabase) await this.db.close();
  }
}

type PGliteTransaction = Parameters<Parameters<PGliteDatabase['transaction']>[0]>[0];

/** The client of one open transaction. */
class PGliteTransactionClient implements SqlClient {
  readonly #tx: PGliteTransaction;

  constructor(tx: PGliteTransaction) {
    this.#tx = tx;
  }

  async query<R extends object = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<SqlResult<R>> {
    const { rows } = await this.#tx.query<R>(text, [...params]);
    return { rows };
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return fn(this);
  }

  async close(): Promise<void> {}
}

async function startDatabase(runIn: PGliteRunIn, dataDir: string | undefined): Promise<PGliteDatabase> {
  // PGlite creates its directory but not the missing parents (`.potter/` on a fresh clone).
  if (dataDir !== undefined && !/^[a-z]+:\/\//i.test(dataDir)) {
    await mkdir(dirname(resolve(dataDir)), { recursive: true });
  }
  if (runIn === 'worker' || (runIn === 'auto' && !(await dynamicImportWorks()))) {
    return PGliteWorkerDatabase.start(resolvePGlite(), dataDir);
  }
  const { PGlite } = loadPGlite();
  try {
    return await PGlite.create(dataDir);
  } catch (error) {
    if (runIn === 'auto' && isDynamicImportRefused(error))
      return PGliteWorkerDatabase.start(resolvePGlite(), dataDir);
    throw error;
  }
}
