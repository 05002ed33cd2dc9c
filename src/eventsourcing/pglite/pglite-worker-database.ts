import { Worker } from 'node:worker_threads';
import type { PGliteDatabase } from './pglite-database';

/**
 * The worker's program, plain CommonJS run by Node itself (`eval`), so it works whatever loaded
 * this module: PGlite starts inside the worker, where `import()` of Node built-ins is allowed.
 * Requests: `{ id, op, ... }`; replies: `{ id, ok, result | error }`; notifications: `{ notify, payload }`.
 */
const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { PGlite } = require(workerData.modulePath);
let db;
let nextTransaction = 0;
const transactions = new Map();
const listeners = new Map();
const describe = (error) => {
  const e = error !== null && typeof error === 'object' ? error : { message: String(error) };
  return { name: e.name, message: e.message, code: e.code, detail: e.detail, constraint: e.constraint };
};
const ops = {
  async query({ text, params, tx }) {
    const target = tx === undefined ? db : transactions.get(tx)?.tx;
    if (!target) throw new Error('Transaction ' + tx + ' is not open.');
    const result = await target.query(text, params);
    return { rows: result.rows };
  },
  begin() {
    return new Promise((resolve, reject) => {
      const id = ++nextTransaction;
      const entry = {};
      const finished = new Promise((done) => (entry.finish = done));
      entry.outcome = db.transaction(async (tx) => {
        entry.tx = tx;
        transactions.set(id, entry);
        resolve(id);
        if ((await finished) === 'rollback') await tx.rollback();
      });
      entry.outcome.catch((error) => entry.tx === undefined && reject(error));
    });
  },
  async end({ tx, action }) {
    const entry = transactions.get(tx);
    if (!entry) throw new Error('Transaction ' + tx + ' is not open.');
    transactions.delete(tx);
    entry.finish(action);
    await entry.outcome;
  },
  async listen({ channel }) {
    if (listeners.has(channel)) return;
    listeners.set(channel, await db.listen(channel, (payload) => parentPort.postMessage({ notify: channel, payload })));
  },
  async unlisten({ channel }) {
    const stop = listeners.get(channel);
    listeners.delete(channel);
    if (stop) await stop();
  },
  async close() {
    await db.close();
  },
};
parentPort.on('message', (message) => {
  ops[message.op](message).then(
    (result) => parentPort.postMessage({ id: message.id, ok: true, result }),
    (error) => parentPort.postMessage({ id: message.id, ok: false, error: describe(error) }),
  );
});
PGlite.create(workerData.dataDir).then(
  (created) => {
    db = created;
    parentPort.postMessage({ ready: true });
  },
  (error) => parentPort.postMessage({ ready: false, error: describe(error) }),
);
`;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface WorkerError {
  name?: string;
  message?: string;
  code?: string;
  detail?: string;
  constraint?: string;
}

type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: WorkerError }
  | { notify: string; payload: string }
  | { ready: true }
  | { ready: false; error: WorkerError };

/**
 * A PGlite database running in a worker thread, spoken to by messages. Used where PGlite cannot
 * start in the caller's module system (Jest without `--experimental-vm-modules`); also keeps
 * PGlite's WebAssembly work off the main thread. Rows cross the thread boundary by structured
 * clone (dates, JSON values and strings survive unchanged).
 */
export class PGliteWorkerDatabase implements PGliteDatabase {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Set<(payload: string) => void>>();
  #nextId = 0;
  #failure: Error | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: Reply) => this.#receive(reply));
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => this.#fail(new Error(`The PGlite worker exited (code ${code}).`)));
  }

  /** Starts PGlite (`modulePath`: its CommonJS entry) in a worker, in memory or persisted to `dataDir`. */
  static start(modulePath: string, dataDir: string | undefined): Promise<PGliteWorkerDatabase> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { modulePath, dataDir } });
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new Error(`The PGlite worker exited while starting (code ${code}).`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (reply: Reply) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if ('ready' in reply && reply.ready) {
          const database = new PGliteWorkerDatabase(worker);
          worker.unref(); // only pending requests keep the process alive
          resolve(database);
        } else {
          void worker.terminate();
          reject(toError('error' in reply ? reply.error : { message: 'The PGlite worker did not start.' }));
        }
      });
    });
  }

  async query<T>(query: string, params: unknown[] = []): Promise<{ rows: T[] }> {
    return (await this.#request({ op: 'query', text: query, params })) as { rows: T[] };
  }

  async transaction<T>(
    callback: (tx: { query<R>(query: string, params?: unknown[]): Promise<{ rows: R[] }> }) => Promise<T>,
  ): Promise<T> {
    const tx = (await this.#request({ op: 'begin' })) as number;
    let result: T;
    try {
      result = await callback({
        query: async <R>(text: string, params: unknown[] = []) =>
          (await this.#request({ op: 'query', text, params, tx })) as { rows: R[] },
      });
    } catch (error) {
      await this.#request({ op: 'end', tx, action: 'rollback' }).catch(() => undefined);
      throw error;
    }
    await this.#request({ op: 'end', tx, action: 'commit' });
    return result;
  }

  async listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>> {
    let callbacks = this.#listeners.get(channel);
    if (!callbacks) {
      callbacks = new Set();
      this.#listeners.set(channel, callbacks);
      await this.#request({ op: 'listen', channel });
    }
    callbacks.add(callback);
    return async () => {
      const current = this.#listeners.get(channel);
      if (!current?.delete(callback) || current.size > 0) return;
      this.#listeners.delete(channel);
      await this.#request({ op: 'unlisten', channel }).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.#failure) return;
    await this.#request({ op: 'close' }).catch(() => undefined);
    this.#failure = new Error('The PGlite database is closed.');
    await this.#worker.terminate();
  }

  #request(message: Record<string, unknown>): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = ++this.#nextId;
    if (this.#pending.size === 0) this.#worker.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id });
    });
  }

  #receive(reply: Reply): void {
    if ('notify' in reply) {
      for (const callback of this.#listeners.get(reply.notify) ?? []) callback(reply.payload);
      return;
    }
    if (!('id' in reply)) return;
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(toError(reply.error));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

function toError(described: WorkerError): Error {
  const error = new Error(described.message ?? 'PGlite failed.');
  if (described.name) error.name = described.name;
  return Object.assign(error, {
    ...(described.code !== undefined && { code: described.code }),
    ...(described.detail !== undefined && { detail: described.detail }),
    ...(described.constraint !== undefined && { constraint: described.constraint }),
  });
}
