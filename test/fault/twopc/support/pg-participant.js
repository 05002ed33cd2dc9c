// A two-phase participant with durable state in PostgreSQL tables of its own, used by the 2PC fault
// tests' worker processes (they run the compiled package). For participant <name> in <schema>
// (created by the test, see ../twopc-fault.ts):
//   twopc_<name>_holds      (tx_id PK, state 'prepared' | 'committed' | 'rolled_back', payload)
//   twopc_<name>_committed  (tx_id PK): the effect of a commit, written once, in the commit's
//                           transaction
//   twopc_violations        (participant, tx_id, what): contract breaches seen (a commit of an
//                           unprepared or rolled back tx, a rollback of a committed one) — must stay empty
// Every method is idempotent by txId. A rollback of an unknown tx leaves a 'rolled_back' tombstone,
// so that a prepare arriving after it votes no. A prepare whose payload lists this participant in
// `fail` votes no (before holding anything).
'use strict';
const { setTimeout: sleep } = require('node:timers/promises');

class Refused extends Error {
  constructor(message) {
    super(message);
    this.name = 'Refused';
  }
}

class PgParticipant {
  /**
   * @param {import('pg').Pool} pool
   * @param {string} schema
   * @param {string} name
   * @param {{ onPrepared?: (txId: string) => void, delayMs?: { min: number, max: number } }} [hooks]
   *   `delayMs`: a random sleep before each prepare, commit and rollback (so that kills land inside them)
   */
  constructor(pool, schema, name, hooks = {}) {
    this.pool = pool;
    this.name = name;
    this.hooks = hooks;
    this.holds = `"${schema}".twopc_${name}_holds`;
    this.committed = `"${schema}".twopc_${name}_committed`;
    this.violations = `"${schema}".twopc_violations`;
  }

  async pause() {
    const range = this.hooks.delayMs;
    if (range && range.max > 0) await sleep(range.min + Math.random() * (range.max - range.min));
  }

  async prepare(txId, payload) {
    await this.pause();
    const fail = payload && Array.isArray(payload.fail) ? payload.fail : [];
    if (fail.includes(this.name)) throw new Refused(`${this.name} refuses ${txId}`);
    await this.pool.query(
      `INSERT INTO ${this.holds} (tx_id, state, payload) VALUES ($1, 'prepared', $2) ON CONFLICT (tx_id) DO NOTHING`,
      [txId, JSON.stringify(payload ?? null)],
    );
    const { rows } = await this.pool.query(`SELECT state FROM ${this.holds} WHERE tx_id = $1`, [txId]);
    const state = rows[0] && rows[0].state;
    if (state === 'rolled_back') throw new Refused(`${txId} was rolled back already`);
    this.hooks.onPrepared?.(txId);
  }

  async commit(txId) {
    await this.pause();
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(`SELECT state FROM ${this.holds} WHERE tx_id = $1 FOR UPDATE`, [
        txId,
      ]);
      const state = rows[0] && rows[0].state;
      if (state === 'prepared') {
        await client.query(`UPDATE ${this.holds} SET state = 'committed' WHERE tx_id = $1`, [txId]);
        await client.query(`INSERT INTO ${this.committed} (tx_id) VALUES ($1)`, [txId]);
      } else if (state !== 'committed') {
        await client.query(`INSERT INTO ${this.violations} (participant, tx_id, what) VALUES ($1, $2, $3)`, [
          this.name,
          txId,
          `commit in state ${state ?? 'unknown'}`,
        ]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async rollback(txId) {
    await this.pause();
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO ${this.holds} (tx_id, state) VALUES ($1, 'rolled_back') ON CONFLICT (tx_id) DO NOTHING`,
        [txId],
      );
      const { rows } = await client.query(`SELECT state FROM ${this.holds} WHERE tx_id = $1 FOR UPDATE`, [
        txId,
      ]);
      const state = rows[0].state;
      if (state === 'prepared') {
        await client.query(`UPDATE ${this.holds} SET state = 'rolled_back' WHERE tx_id = $1`, [txId]);
      } else if (state === 'committed') {
        await client.query(`INSERT INTO ${this.violations} (participant, tx_id, what) VALUES ($1, $2, $3)`, [
          this.name,
          txId,
          'rollback of a committed tx',
        ]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

module.exports = { PgParticipant };
