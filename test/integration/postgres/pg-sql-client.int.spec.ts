import { Pool } from 'pg';
import { PgSqlClient } from 'potter/postgres';
import { postgresUrl, serviceUnavailable } from '../../support/services';

describe('PgSqlClient', () => {
  let admin: Pool;

  beforeAll(async () => {
    admin = new Pool({ connectionString: postgresUrl(), max: 1 });
    admin.on('error', () => undefined);
    try {
      await admin.query('SELECT 1');
    } catch (error) {
      throw serviceUnavailable('PostgreSQL', postgresUrl(), error);
    }
  });

  afterAll(async () => {
    await admin?.end();
  });

  // Regression: a connection the server ended while checked out for a transaction emitted an
  // unhandled 'error' event, which kills a Node process (found by the projection fencing test).
  it('survives the server ending a connection in the middle of a transaction, and keeps working', async () => {
    const client = new PgSqlClient({ connectionString: postgresUrl() });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      await expect(
        client.transaction(async (tx) => {
          const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
          await new Promise((resolve) => setTimeout(resolve, 200)); // the socket closes meanwhile
          await tx.query('SELECT 1');
        }),
      ).rejects.toThrow();
      expect(uncaught).toEqual([]);
      // The broken connection was discarded: the client still works.
      await expect(client.query('SELECT 1 AS one')).resolves.toEqual({ rows: [{ one: 1 }] });
      await expect(client.transaction((tx) => tx.query('SELECT 2 AS two'))).resolves.toEqual({
        rows: [{ two: 2 }],
      });
    } finally {
      process.off('uncaughtException', onUncaught);
      await client.close();
    }
  });
});
