/**
 * The one port through which Potter's SQL adapters talk to PostgreSQL. `pg` (a connection pool) and
 * PGlite (PostgreSQL compiled to WebAssembly, one connection) implement it, so both run the same SQL.
 */

/** Options of {@link SqlClient.query}. */
export interface SqlQueryOptions {
  /**
   * A name under which the statement may be prepared once per connection and reused (saves
   * parsing and planning). Give the same name only to the same text. Adapters without prepared
   * statements ignore it.
   */
  name?: string;
}

/** The rows a query returned. */
export interface SqlResult<R> {
  rows: R[];
}

/**
 * A minimal PostgreSQL client: parameterized queries, transactions, and (optionally) notifications.
 * Parameters are always passed separately from the text (`$1`, `$2`, …), never formatted into it.
 */
export interface SqlClient {
  /** Runs one statement (its own transaction unless inside {@link SqlClient.transaction}). */
  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: SqlQueryOptions,
  ): Promise<SqlResult<R>>;
  /**
   * Runs `fn` in a transaction on one connection: committed when `fn` resolves, rolled back when it
   * throws. Inside, use only the `tx` client (a nested `tx.transaction()` joins the same transaction).
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /**
   * Calls `onNotify` for every `NOTIFY` on `channel` (a notification is a hint: it may be lost,
   * for example while reconnecting). Resolves to a function that stops listening.
   */
  listen?(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Releases the connections (a transaction client's `close()` does nothing). */
  close(): Promise<void>;
}

/** The SQLSTATE of a database error (`'23505'` for a unique violation, …), if it has one. */
export function sqlStateOf(error: unknown): string | undefined {
  // Duck-typed: errors may come from another realm (a worker thread, Jest's sandbox).
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** SQLSTATE codes Potter's SQL adapters react to. @internal */
export const SQLSTATE = {
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;
