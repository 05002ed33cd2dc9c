import { runExample, type ExampleRun } from './support/run-example';
import {
  expectCleanExit,
  linesOf,
  pgliteBackend,
  postgresBackend,
  sagaTrace,
  type SagaExampleBackend,
} from './support/saga-examples';

/**
 * examples/saga-warehouse-integration as a user runs it (the built example, importing the built
 * package), on PGlite and on PostgreSQL: a saga whose reservation step is a two-phase commit over
 * two warehouses with durable stock tables. Order 1 commits in both, order 2 is refused by one
 * warehouse (nothing reserved anywhere), order 3 commits and is compensated after the card is
 * declined (the stock comes back). PostgreSQL must be up: the tests fail, never skip, without it.
 */

const LAST_LINE = 'Stopped; the sagas, the coordinator log and the stock stay in the database';
const TX = /^[0-9a-f-]{36}:reserve-stock$/;

/** The lines of one warehouse for an order, without their prefix. */
function warehouse(stdout: string, name: string, order: string): string[] {
  const prefix = `[${name}] ${order}: `;
  return linesOf(stdout, order)
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length));
}

/** What the example prints, whatever the database. */
function expectScenarios(stdout: string): void {
  // 1. Both prepared, then both committed (the two warehouses answer in any order).
  expect(warehouse(stdout, 'north', 'ord-1001')).toEqual([
    'prepared, holds 2 desk',
    'committed, 2 desk allocated',
  ]);
  expect(warehouse(stdout, 'south', 'ord-1001')).toEqual([
    'prepared, holds 3 chair',
    'committed, 3 chair allocated',
  ]);
  const trace1 = linesOf(stdout, 'ord-1001');
  const lastPrepare = Math.max(
    trace1.indexOf('[north] ord-1001: prepared, holds 2 desk'),
    trace1.indexOf('[south] ord-1001: prepared, holds 3 chair'),
  );
  const firstCommit = Math.min(
    trace1.indexOf('[north] ord-1001: committed, 2 desk allocated'),
    trace1.indexOf('[south] ord-1001: committed, 3 chair allocated'),
  );
  expect(lastPrepare).toBeLessThan(firstCommit); // no commit before every vote is in
  expect(sagaTrace(stdout, 'ord-1001')).toEqual([
    'started',
    'open-order: attempt 1',
    'open-order: done',
    'reserve-stock: attempt 1',
    'reserve-stock: done',
    'charge-payment: attempt 1',
    'charge-payment: done',
    'confirm-order: attempt 1',
    'confirm-order: done',
    'completed',
  ]);
  const reservation = /^ord-1001 completed: reservation (\S+), payment pay-1$/m.exec(stdout)?.[1];
  expect(reservation).toMatch(TX);

  // 2. South refuses: north's hold is released, nothing commits, the step is not retried and not
  //    compensated, the order is cancelled.
  expect(warehouse(stdout, 'north', 'ord-1002')).toEqual([
    'prepared, holds 1 desk',
    'rolled back, 1 desk released',
  ]);
  expect(warehouse(stdout, 'south', 'ord-1002')).toEqual(['votes no (south has 7 chair, 8 wanted)']);
  const trace2 = sagaTrace(stdout, 'ord-1002');
  expect(trace2.filter((line) => line.startsWith('reserve-stock'))).toEqual([
    'reserve-stock: attempt 1',
    expect.stringMatching(
      /^reserve-stock: attempt 1 failed, no retry \(TwoPhaseAbortedError: Two-phase transaction [0-9a-f-]{36}:reserve-stock was aborted: south voted no \(south has 7 chair, 8 wanted\)\.\)$/,
    ),
  ]);
  expect(trace2.slice(-4)).toEqual([
    expect.stringMatching(/^failed, compensating \(TwoPhaseAbortedError: /),
    'undo open-order: attempt 1',
    'undo open-order: done',
    'compensated',
  ]);
  expect(trace2.some((line) => line.startsWith('undo reserve-stock'))).toBe(false);
  expect(trace2.some((line) => line.startsWith('charge-payment'))).toBe(false);

  // 3. Committed in both, the card is declined: both warehouses put the lamps back, then the order
  //    is cancelled (reverse order).
  expect(warehouse(stdout, 'north', 'ord-1003')).toEqual([
    'prepared, holds 3 lamp',
    'committed, 3 lamp allocated',
    'compensated, 3 lamp back on the shelf',
  ]);
  expect(warehouse(stdout, 'south', 'ord-1003')).toEqual([
    'prepared, holds 2 lamp',
    'committed, 2 lamp allocated',
    'compensated, 2 lamp back on the shelf',
  ]);
  expect(sagaTrace(stdout, 'ord-1003').slice(-9)).toEqual([
    'reserve-stock: done',
    'charge-payment: attempt 1',
    'charge-payment: attempt 1 failed, no retry (PaymentDeclinedError: card declined for ord-1003)',
    'failed, compensating (PaymentDeclinedError: card declined for ord-1003)',
    'undo reserve-stock: attempt 1',
    'undo reserve-stock: done',
    'undo open-order: attempt 1',
    'undo open-order: done',
    'compensated',
  ]);
  // The lamps go back only after the payment failed.
  const trace3 = linesOf(stdout, 'ord-1003');
  expect(trace3.indexOf('[north] ord-1003: compensated, 3 lamp back on the shelf')).toBeGreaterThan(
    trace3.indexOf('[payments] ord-1003: card •••• 0002 declined'),
  );

  // The end state, read back from the database by the example.
  expect(stdout).toMatch(
    new RegExp(
      [
        'End state \\(read back from the database\\)',
        '  stock north: desk 3 on the shelf, 0 held, 2 allocated; lamp 10 on the shelf, 0 held, 0 allocated',
        '  stock south: chair 7 on the shelf, 0 held, 3 allocated; lamp 4 on the shelf, 0 held, 0 allocated',
        '  per order: holds in each warehouse \\| coordinator log \\| saga \\| order',
        '    ord-1001  north applied   south applied  \\| commit completed \\| completed +\\| confirmed',
        '    ord-1002  north released  south released \\| abort completed  \\| compensated \\(undone: open-order\\) +\\| cancelled',
        '    ord-1003  north returned  south returned \\| commit completed \\| compensated \\(undone: reserve-stock, open-order\\) +\\| cancelled',
      ].join('\\n'),
    ),
  );
}

describe.each([
  ['PGlite', () => Promise.resolve(pgliteBackend('saga-warehouse-integration'))],
  ['PostgreSQL', () => postgresBackend('saga_warehouse')],
] as const)('examples/saga-warehouse-integration on %s', (name, makeBackend) => {
  let backend: SagaExampleBackend;
  let run: ExampleRun;

  beforeAll(async () => {
    backend = await makeBackend();
    run = await runExample('saga-warehouse-integration', backend.env);
    console.log(`saga-warehouse-integration on ${backend.name}: ${run.ms} ms`);
  }, 180_000);

  afterAll(() => backend?.cleanUp());

  it('exits 0 with nothing on stderr, and runs the three orders', () => {
    expectCleanExit(run, LAST_LINE);
    expect(run.stdout).toMatch(
      name === 'PGlite'
        ? /^Database: PGlite at \S+\/\.potter\/saga-warehouse-integration$/m
        : new RegExp(`^Database: PostgreSQL, schema e2e_saga_warehouse_${process.pid}$`, 'm'),
    );
    expectScenarios(run.stdout);
  });

  if (name !== 'PostgreSQL') return;

  it('leaves the stock, holds, coordinator log, sagas and orders tables consistent', async () => {
    const sagas = await backend.query<{
      business_key: string;
      saga_id: string;
      status: string;
      compensated: string[];
      error: string | null;
      tx: string | null;
    }>(
      `SELECT business_key, saga_id, status, state->'compensatedSteps' AS compensated,
              state->'error'->>'code' AS error, state->'context'->>'reservationTx' AS tx
         FROM <schema>.sagas ORDER BY business_key`,
    );
    expect(sagas.map(({ saga_id: _id, ...rest }) => rest)).toEqual([
      {
        business_key: 'ord-1001',
        status: 'completed',
        compensated: [],
        error: null,
        tx: expect.stringMatching(TX),
      },
      {
        business_key: 'ord-1002',
        status: 'compensated',
        compensated: ['open-order'],
        error: 'POTTER_TWOPC_ABORTED',
        tx: null,
      },
      {
        business_key: 'ord-1003',
        status: 'compensated',
        compensated: ['reserve-stock', 'open-order'],
        error: null,
        tx: expect.stringMatching(TX),
      },
    ]);
    const txOf = new Map(sagas.map((s) => [s.business_key, `${s.saga_id}:reserve-stock`]));
    expect(sagas[0]!.tx).toBe(txOf.get('ord-1001'));

    const log = await backend.query<{
      tx_id: string;
      participants: string[];
      decision: string;
      done: string[];
      completed: boolean;
    }>(
      `SELECT tx_id, participants, decision, done, completed_at IS NOT NULL AS completed
         FROM <schema>.twopc_transactions`,
    );
    const byTx = new Map(log.map((row) => [row.tx_id, row]));
    expect(log).toHaveLength(3); // one transaction per order, never a second one
    for (const [order, decision] of [
      ['ord-1001', 'commit'],
      ['ord-1002', 'abort'],
      ['ord-1003', 'commit'],
    ] as const) {
      const row = byTx.get(txOf.get(order)!);
      expect(row).toMatchObject({ participants: ['north', 'south'], decision, completed: true });
      expect([...row!.done].sort()).toEqual(['north', 'south']);
    }

    for (const [name, stock] of [
      [
        'north',
        [
          { sku: 'desk', available: 3, held: 0, allocated: 2 },
          { sku: 'lamp', available: 10, held: 0, allocated: 0 },
        ],
      ],
      [
        'south',
        [
          { sku: 'chair', available: 7, held: 0, allocated: 3 },
          { sku: 'lamp', available: 4, held: 0, allocated: 0 },
        ],
      ],
    ] as const) {
      await expect(
        backend.query(`SELECT sku, available, held, allocated FROM <schema>.stock_${name} ORDER BY sku`),
      ).resolves.toEqual(stock);
      const holds = await backend.query<{ tx_id: string; state: string }>(
        `SELECT tx_id, state FROM <schema>.holds_${name}`,
      );
      expect(new Map(holds.map((h) => [h.tx_id, h.state]))).toEqual(
        new Map([
          [txOf.get('ord-1001'), 'applied'],
          // The refusing warehouse holds nothing: its rollback left a `released` mark only.
          [txOf.get('ord-1002'), 'released'],
          [txOf.get('ord-1003'), 'returned'],
        ]),
      );
    }

    await expect(
      backend.query(`SELECT order_id, status, payment_id FROM <schema>.orders ORDER BY order_id`),
    ).resolves.toEqual([
      { order_id: 'ord-1001', status: 'confirmed', payment_id: 'pay-1' },
      { order_id: 'ord-1002', status: 'cancelled', payment_id: null },
      { order_id: 'ord-1003', status: 'cancelled', payment_id: null },
    ]);
  });
});
