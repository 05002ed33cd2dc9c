import type { SqlClient } from 'potter/pglite';
import type { OrderContext } from './order';

/** The status of an order in the `orders` table. */
export type OrderStatus = 'open' | 'confirmed' | 'cancelled';

/** The shop's orders, in the table `orders` (idempotent writes: a re-run step changes nothing). */
export class Orders {
  readonly #table: string;

  constructor(
    private readonly client: SqlClient,
    schema: string,
  ) {
    this.#table = `"${schema}".orders`;
  }

  async createTable(): Promise<void> {
    await this.client.query(
      `CREATE TABLE IF NOT EXISTS ${this.#table} (
         order_id text PRIMARY KEY,
         customer text NOT NULL,
         status text NOT NULL,
         payment_id text)`,
    );
  }

  async open(order: OrderContext): Promise<void> {
    await this.client.query(
      `INSERT INTO ${this.#table} (order_id, customer, status) VALUES ($1, $2, 'open') ON CONFLICT DO NOTHING`,
      [order.orderId, order.customer],
    );
    console.log(`  [orders] ${order.orderId}: open`);
  }

  async confirm(orderId: string, paymentId: string | undefined): Promise<void> {
    await this.client.query(
      `UPDATE ${this.#table} SET status = 'confirmed', payment_id = $2 WHERE order_id = $1`,
      [orderId, paymentId ?? null],
    );
    console.log(`  [orders] ${orderId}: confirmed`);
  }

  async cancel(orderId: string): Promise<void> {
    await this.client.query(`UPDATE ${this.#table} SET status = 'cancelled' WHERE order_id = $1`, [orderId]);
    console.log(`  [orders] ${orderId}: cancelled`);
  }

  async statusOf(orderId: string): Promise<OrderStatus | undefined> {
    const { rows } = await this.client.query<{ status: OrderStatus }>(
      `SELECT status FROM ${this.#table} WHERE order_id = $1`,
      [orderId],
    );
    return rows[0]?.status;
  }
}
