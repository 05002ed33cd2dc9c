import type { CompensableTwoPhaseParticipant } from 'potter';
import type { SqlClient } from 'potter/pglite';
import type { OrderLine, ReservationPayload, WarehouseName } from './order';

/** A warehouse votes no: it has too little of an item. */
export class OutOfStockError extends Error {
  constructor(warehouse: string, sku: string, available: number, wanted: number) {
    super(`${warehouse} has ${available} ${sku}, ${wanted} wanted`);
    this.name = 'OutOfStockError';
  }
}

/** Where one hold is: `held` (prepared), `applied` (committed), `released` (rolled back), `returned` (compensated). */
export type HoldState = 'held' | 'applied' | 'released' | 'returned';

/** One line of a warehouse's stock table. */
export interface StockLevel {
  sku: string;
  /** On the shelf, free to reserve. */
  available: number;
  /** Held by prepared transactions (not decided yet). */
  held: number;
  /** Reserved by committed transactions: allocated to orders. */
  allocated: number;
}

/** One line of a warehouse's holds table. */
export interface Hold {
  txId: string;
  orderId: string;
  state: HoldState;
  lines: OrderLine[];
}

/**
 * A warehouse as a two-phase-commit participant, with its durable state in its own tables:
 * `stock_<name>` (available / held / allocated per item) and `holds_<name>` (one row per
 * transaction id). Every method is one SQL transaction and idempotent, keyed by the transaction id:
 *
 * - `prepare` holds the stock (available → held) under the transaction id, or throws (votes no)
 *   when an item is short; a repeated prepare finds its hold and votes yes again; a prepare after
 *   the rollback of the same transaction finds the `released` row and votes no.
 * - `commit` turns the hold into an allocation (held → allocated); `rollback` puts it back on the
 *   shelf (held → available). For a transaction it does not know, `commit` does nothing and
 *   `rollback` records it `released` (so that a prepare arriving late votes no).
 * - `compensate` (the saga's undo, after a commit) returns the allocation to the shelf
 *   (allocated → available) once: `applied` → `returned`.
 */
export class Warehouse implements CompensableTwoPhaseParticipant {
  readonly #stock: string;
  readonly #holds: string;

  constructor(
    readonly name: WarehouseName,
    private readonly client: SqlClient,
    schema: string,
  ) {
    this.#stock = `"${schema}".stock_${name}`;
    this.#holds = `"${schema}".holds_${name}`;
  }

  /** Creates the warehouse's tables if they are missing. */
  async createTables(): Promise<void> {
    await this.client.query(
      `CREATE TABLE IF NOT EXISTS ${this.#stock} (
         sku text PRIMARY KEY,
         available integer NOT NULL CHECK (available >= 0),
         held integer NOT NULL DEFAULT 0 CHECK (held >= 0),
         allocated integer NOT NULL DEFAULT 0 CHECK (allocated >= 0))`,
    );
    await this.client.query(
      `CREATE TABLE IF NOT EXISTS ${this.#holds} (
         tx_id text PRIMARY KEY,
         order_id text,
         lines jsonb NOT NULL,
         state text NOT NULL)`,
    );
  }

  /** Puts `levels` on the shelf (the demo's opening stock; allocations and holds are kept). */
  async restock(levels: Readonly<Record<string, number>>): Promise<void> {
    for (const [sku, available] of Object.entries(levels)) {
      await this.client.query(
        `INSERT INTO ${this.#stock} (sku, available) VALUES ($1, $2)
         ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available`,
        [sku, available],
      );
    }
  }

  async prepare(txId: string, payload: unknown): Promise<void> {
    const { orderId, lines: all } = payload as ReservationPayload;
    const lines = all.filter((line) => line.warehouse === this.name);
    try {
      await this.#hold(txId, orderId, lines);
    } catch (error) {
      console.log(`  [${this.name}] ${orderId}: votes no (${(error as Error).message})`);
      throw error;
    }
    console.log(`  [${this.name}] ${orderId}: prepared, holds ${describe(lines)}`);
  }

  /** Holds `lines` under `txId` in one SQL transaction (a throw rolls it back: nothing is held). */
  async #hold(txId: string, orderId: string, lines: readonly OrderLine[]): Promise<void> {
    await this.client.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO ${this.#holds} (tx_id, order_id, lines, state) VALUES ($1, $2, $3, 'held')
         ON CONFLICT (tx_id) DO NOTHING RETURNING 1 AS inserted`,
        [txId, orderId, JSON.stringify(lines)],
      );
      if (inserted.rows.length === 0) {
        const state = await this.#stateOf(tx, txId);
        if (state === 'released')
          throw new Error(`${this.name}: transaction ${txId} was rolled back already`);
        return; // prepared (or further) already: the same yes
      }
      for (const { sku, quantity } of lines) {
        const { rows } = await tx.query<{ available: number }>(
          `SELECT available FROM ${this.#stock} WHERE sku = $1 FOR UPDATE`,
          [sku],
        );
        const available = rows[0]?.available ?? 0;
        // Throwing rolls this SQL transaction back (the hold row too): the vote is no.
        if (available < quantity) throw new OutOfStockError(this.name, sku, available, quantity);
        await tx.query(
          `UPDATE ${this.#stock} SET available = available - $2, held = held + $2 WHERE sku = $1`,
          [sku, quantity],
        );
      }
    });
  }

  async commit(txId: string): Promise<void> {
    const hold = await this.#move(txId, 'held', 'applied', 'held = held - $2, allocated = allocated + $2');
    if (hold !== undefined)
      console.log(`  [${this.name}] ${hold.orderId}: committed, ${describe(hold.lines)} allocated`);
  }

  async rollback(txId: string): Promise<void> {
    // A transaction this warehouse never prepared is recorded released: a late prepare votes no.
    await this.client.query(
      `INSERT INTO ${this.#holds} (tx_id, lines, state) VALUES ($1, '[]', 'released') ON CONFLICT (tx_id) DO NOTHING`,
      [txId],
    );
    const hold = await this.#move(txId, 'held', 'released', 'held = held - $2, available = available + $2');
    if (hold !== undefined)
      console.log(`  [${this.name}] ${hold.orderId}: rolled back, ${describe(hold.lines)} released`);
  }

  async compensate(txId: string): Promise<void> {
    const hold = await this.#move(
      txId,
      'applied',
      'returned',
      'allocated = allocated - $2, available = available + $2',
    );
    if (hold !== undefined)
      console.log(`  [${this.name}] ${hold.orderId}: compensated, ${describe(hold.lines)} back on the shelf`);
  }

  /** The stock table, by item. */
  async levels(): Promise<StockLevel[]> {
    const { rows } = await this.client.query<StockLevel>(
      `SELECT sku, available, held, allocated FROM ${this.#stock} ORDER BY sku`,
    );
    return rows;
  }

  /** The holds table, by transaction id. */
  async holds(): Promise<Map<string, Hold>> {
    const { rows } = await this.client.query<{
      tx_id: string;
      order_id: string | null;
      state: HoldState;
      lines: OrderLine[];
    }>(`SELECT tx_id, order_id, state, lines FROM ${this.#holds}`);
    return new Map(
      rows.map((row) => [
        row.tx_id,
        { txId: row.tx_id, orderId: row.order_id ?? '', state: row.state, lines: row.lines },
      ]),
    );
  }

  /**
   * Moves the hold of `txId` from state `from` to `to` and applies `change` to the stock of each of
   * its lines, in one SQL transaction; does nothing (returns undefined) when the hold is not in `from`.
   */
  async #move(txId: string, from: HoldState, to: HoldState, change: string): Promise<Hold | undefined> {
    return this.client.transaction(async (tx) => {
      const { rows } = await tx.query<{ order_id: string | null; lines: OrderLine[] }>(
        `UPDATE ${this.#holds} SET state = $3 WHERE tx_id = $1 AND state = $2 RETURNING order_id, lines`,
        [txId, from, to],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      for (const { sku, quantity } of row.lines) {
        await tx.query(`UPDATE ${this.#stock} SET ${change} WHERE sku = $1`, [sku, quantity]);
      }
      return { txId, orderId: row.order_id ?? '', state: to, lines: row.lines };
    });
  }

  async #stateOf(tx: SqlClient, txId: string): Promise<HoldState | undefined> {
    const { rows } = await tx.query<{ state: HoldState }>(
      `SELECT state FROM ${this.#holds} WHERE tx_id = $1`,
      [txId],
    );
    return rows[0]?.state;
  }
}

function describe(lines: readonly OrderLine[]): string {
  return lines.map((l) => `${l.quantity} ${l.sku}`).join(', ') || 'nothing';
}
