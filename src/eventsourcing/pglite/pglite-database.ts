import type * as PGliteModule from '@electric-sql/pglite';
import { MissingDependencyError } from '../../core/errors';

/**
 * What Potter uses of a PGlite database. A `PGlite` instance has this shape; so does
 * {@link PGliteWorkerDatabase}, which runs PGlite in a worker thread.
 */
export interface PGliteDatabase {
  query<T>(query: string, params?: unknown[]): Promise<{ rows: T[] }>;
  transaction<T>(
    callback: (tx: { query<R>(query: string, params?: unknown[]): Promise<{ rows: R[] }> }) => Promise<T>,
  ): Promise<T>;
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Resolves the PGlite package's CommonJS entry file. @internal */
export function resolvePGlite(): string {
  try {
    return require.resolve('@electric-sql/pglite');
  } catch (cause) {
    throw missing(cause);
  }
}

/** Loads PGlite on first use, so `potter/pglite` can be imported without it. @internal */
export function loadPGlite(): typeof PGliteModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded lazily
    return require('@electric-sql/pglite') as typeof PGliteModule;
  } catch (cause) {
    if ((cause as { code?: unknown }).code === 'MODULE_NOT_FOUND') throw missing(cause);
    throw cause;
  }
}

function missing(cause: unknown): MissingDependencyError {
  return new MissingDependencyError('@electric-sql/pglite', 'The PGlite adapter (potter/pglite)', { cause });
}

/**
 * True when this module may use `import()`. PGlite's CommonJS build imports Node built-ins
 * dynamically while it starts; module sandboxes such as Jest's (without
 * `--experimental-vm-modules`) reject that with `ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG`.
 * @internal
 */
export async function dynamicImportWorks(): Promise<boolean> {
  try {
    await import('node:os');
    return true;
  } catch (error) {
    return !isDynamicImportRefused(error);
  }
}

/** True for the error a sandbox raises when code it loaded calls `import()`. @internal */
export function isDynamicImportRefused(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG' ||
    code === 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING'
  );
}
