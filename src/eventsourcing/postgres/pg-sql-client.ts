import type * as Pg from 'pg';
import type { ClientConfig, Pool, PoolClient, PoolConfig } from 'pg';
import { ConfigurationError, MissingDependencyError } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import type { SqlClient, SqlQueryOptions, SqlResult } from '../sql/sql-client';

/** Options of {@link PgSqlClient}. */
export interface PgSqlClientOptions {
  /** A pool of yours: used as is, and not ended by `close()`. */
  pool?: Pool;
  /** Where to connect when no `pool` is given (e.g. `postgres://user:pass@host:5432/db`). */
  connectionString?: string;
  /** More settings for the pool created when no `pool` is given (size, timeouts, SSL…). */
  poolConfig?: PoolConfig;
  /** Where connection problems are reported. @default silent */
  logger?: Logger;
}

/**
 * Loads the `pg` driver on first use, so `potter/postgres` can be imported without it.
 * @internal
 */
export function loadPg(): typeof Pg {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded lazily
    return require('pg') as typeof Pg;
  } catch (cause) {
    if ((cause as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
      throw new MissingDependencyError('pg', 'The PostgreSQL adapter (potter/postgres)', { cause });
    }
    throw cause;
  }
}

/**
 * {@link SqlClient} over a `pg.Pool`. Statements given a name are prepared once per connection.
 * `listen()` uses one extra connection (outside the pool) for every channel, and reconnects.
 */
export class PgSqlClient implements SqlClient {
  /** The pool queries run on. */
  readonly pool: Pool;
  readonly #ownsPool: boolean;
  readonly #logger: Logger;
  #listener: PgListener | undefined;

  constructor(options: PgSqlClientOptions) {
    this.#logger = options.logger ?? silentLogger;
    if (options.pool) {
      this.pool = options.pool;
      this.#ownsPool = false;
      return;
    }
    if (!options.connectionString && !options.poolConfig) {
      throw new ConfigurationError('PgSqlClient needs a `pool`, a `connectionString` or a `poolConfig`.');
    }
    const pg = loadPg();
    this.pool = new pg.Pool({
      ...options.poolConfig,
      connectionString: options.connectionString ?? options.poolConfig?.connectionString,
    });
    this.#ownsPool = true;
    // An idle connection that breaks must not crash the process: the pool drops it and reconnects.
    this.pool.on('error', (error) => this.#logger.warn('An idle PostgreSQL connection failed.', { error }));
  }

  async query<R extends object = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
    options: SqlQueryOptions = {},
  ): Promise<SqlResult<R>> {
    return runQuery<R>(this.pool, text, params, options);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const connection = await this.pool.connect();
    let broken: Error | undefined;
    // While checked out, a connection has no pool 'error' listener: a connection the server ends
    // between two statements (idle-in-transaction timeout, restart, network cut) would otherwise
    // emit an unhandled 'error' and kill the process. Note it; the next statement fails and the
    // connection is discarded on release.
    const onError = (error: Error): void => {
      broken = error;
      this.#logger.warn('A PostgreSQL connection in a transaction failed.', { error: error.message });
    };
    connection.on('error', onError);
    try {
      await connection.query('BEGIN');
      const result = await fn(new PgTransactionClient(connection));
      await connection.query('COMMIT');
      return result;
    } catch (error) {
      await connection.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      connection.off('error', onError);
      connection.release(broken);
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    this.#listener ??= new PgListener(this.pool.options, this.#logger);
    return this.#listener.add(channel, onNotify);
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    this.#listener = undefined;
    if (this.#ownsPool && !this.pool.ended) await this.pool.end();
  }
}

/** The client of one open transaction. */
class PgTransactionClient implements SqlClient {
  readonly #connection: PoolClient;

  constructor(connection: PoolClient) {
    this.#connection = connection;
  }

  query<R extends object = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
    options: SqlQueryOptions = {},
  ): Promise<SqlResult<R>> {
    return runQuery<R>(this.#connection, text, params, options);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return fn(this);
  }

  async close(): Promise<void> {}
}

async function runQuery<R>(
  target: Pool | PoolClient,
  text: string,
  params: readonly unknown[],
  options: SqlQueryOptions,
): Promise<SqlResult<R>> {
  const values = params as unknown[];
  const result = await target.query(options.name ? { name: options.name, text, values } : { text, values });
  return { rows: result.rows as R[] };
}

/** One connection that LISTENs for every channel; reconnects with backoff when it breaks. */
class PgListener {
  readonly #config: ClientConfig;
  readonly #logger: Logger;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  #client: Pg.Client | undefined;
  #connecting: Promise<Pg.Client> | undefined;
  #retryDelayMs = 250;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: ClientConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  async add(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>> {
    this.#closed = false;
    let handlers = this.#handlers.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.#handlers.set(channel, handlers);
      try {
        const client = await this.#connect();
        await client.query(`LISTEN ${quoteIdentifier(channel)}`);
      } catch (error) {
        this.#handlers.delete(channel);
        throw error;
      }
    }
    handlers.add(handler);
    return async () => {
      const current = this.#handlers.get(channel);
      if (!current?.delete(handler) || current.size > 0) return;
      this.#handlers.delete(channel);
      await this.#client?.query(`UNLISTEN ${quoteIdentifier(channel)}`).catch(() => undefined);
      if (this.#handlers.size === 0) await this.close();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #connect(): Promise<Pg.Client> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= (async () => {
      const client = new (loadPg().Client)(this.#config);
      client.on('notification', (message) => {
        for (const handler of this.#handlers.get(message.channel) ?? []) handler(message.payload ?? '');
      });
      client.on('error', (error) => this.#lost(client, error));
      client.on('end', () => this.#lost(client, undefined));
      try {
        await client.connect();
      } finally {
        this.#connecting = undefined;
      }
      this.#client = client;
      this.#retryDelayMs = 250;
      return client;
    })();
    return this.#connecting;
  }

  #lost(client: Pg.Client, error: Error | undefined): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    if (this.#closed || this.#handlers.size === 0) return;
    this.#logger.warn('The PostgreSQL LISTEN connection was lost; reconnecting.', { error });
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    this.#retryTimer = setTimeout(() => void this.#reconnect(), this.#retryDelayMs);
    this.#retryTimer.unref();
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, 10_000);
  }

  async #reconnect(): Promise<void> {
    if (this.#closed) return;
    try {
      const client = await this.#connect();
      for (const channel of this.#handlers.keys()) await client.query(`LISTEN ${quoteIdentifier(channel)}`);
      // Notifications sent while disconnected are gone: tell every handler something may have changed.
      for (const handlers of this.#handlers.values()) for (const handler of handlers) handler('');
    } catch (error) {
      this.#logger.warn('Reconnecting the PostgreSQL LISTEN connection failed; retrying.', { error });
      this.#scheduleReconnect();
    }
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
