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
 * examples/saga-order as a user runs it — the built JavaScript, importing the built package — twice
 * on one PGlite data directory, and once on PostgreSQL (a fresh schema), whose `sagas` table is then
 * read directly. PostgreSQL must be up (`bash scripts/services/up`): when it is not, the PostgreSQL
 * tests fail, they never skip.
 */

const LAST_LINE = 'Stopped; the sagas stay in the store: run it again for the next orders';

/** Checks the output of a complete run whose orders are numbered from `first`. */
function expectScenarios(stdout: string, first: number): void {
  const [a, b, c, d, e] = [0, 1, 2, 3, 4].map((i) => `ord-${first + i}`) as [
    string,
    string,
    string,
    string,
    string,
  ];

  // 1. The happy path: three steps, in order.
  expect(sagaTrace(stdout, a)).toEqual([
    'started',
    'reserve-stock: attempt 1',
    'reserve-stock: done',
    'charge-payment: attempt 1',
    'charge-payment: done',
    'ship-order: attempt 1',
    'ship-order: done',
    'completed',
  ]);
  expect(stdout).toContain(`${a} completed: payment pay-1, parcel TRK-0001`);

  // 2. Declined card: not retried; the reservation is released.
  expect(linesOf(stdout, b)).toEqual([
    `[saga] ${b} started`,
    `[saga] ${b} reserve-stock: attempt 1`,
    `[inventory] ${b}: reserved 4 chair`,
    `[saga] ${b} reserve-stock: done`,
    `[saga] ${b} charge-payment: attempt 1`,
    `[payments] ${b}: •••• 0002 declined (do not honour)`,
    `[saga] ${b} charge-payment: attempt 1 failed, no retry (PaymentDeclinedError: The card was declined for ${b}: do not honour.)`,
    `[saga] ${b} failed, compensating (PaymentDeclinedError: The card was declined for ${b}: do not honour.)`,
    `[saga] ${b} undo reserve-stock: attempt 1`,
    `[inventory] ${b}: released 4 chair`,
    `[saga] ${b} undo reserve-stock: done`,
    `[saga] ${b} compensated`,
  ]);
  expect(stdout).toContain(`${b} compensated (PaymentDeclinedError): undone reserve-stock`);

  // 3. Refused parcel: the payment is refunded, then the stock released — reverse order.
  expect(linesOf(stdout, c).slice(-10)).toEqual([
    `[saga] ${c} ship-order: attempt 1`,
    `[saga] ${c} ship-order: attempt 1 failed, no retry (ShippingRefusedError: The carrier does not deliver to US (${c}).)`,
    `[saga] ${c} failed, compensating (ShippingRefusedError: The carrier does not deliver to US (${c}).)`,
    `[saga] ${c} undo charge-payment: attempt 1`,
    `[payments] ${c}: refunded 300 € (pay-2)`,
    `[saga] ${c} undo charge-payment: done`,
    `[saga] ${c} undo reserve-stock: attempt 1`,
    `[inventory] ${c}: released 1 desk, 2 chair`,
    `[saga] ${c} undo reserve-stock: done`,
    `[saga] ${c} compensated`,
  ]);
  expect(stdout).toContain(`${c} compensated (ShippingRefusedError): undone charge-payment, reserve-stock`);

  // 4. Lost answer: the wait times out, the retry carries the same key, the card is charged once.
  expect(linesOf(stdout, d).slice(4, 10)).toEqual([
    `[saga] ${d} charge-payment: attempt 1`,
    `[payments] ${d}: 40 € captured on •••• 4242 as pay-3`,
    `[payments] ${d}: the provider's answer is lost on the way`,
    `[saga] ${d} charge-payment: attempt 1 failed, will retry (TimeoutError: order-fulfilment.charge-payment waiting for payments.PaymentCaptured timed out after 400 ms.)`,
    `[saga] ${d} charge-payment: attempt 2`,
    `[payments] ${d}: ChargeCard again with the same idempotency key: not charged twice, the provider answers again`,
  ]);
  expect(stdout).toContain(`${d} completed: payment pay-3, parcel TRK-0002`);

  // 5. One open saga per business key.
  expect(stdout).toContain('Second start refused: POTTER_SAGA_CONFLICT');
  expect(stdout).toContain("Start with onConflict 'join': the same saga");
  expect(sagaTrace(stdout, e).filter((l) => l === 'started')).toHaveLength(1);
  expect(stdout).toContain(`${e} completed: payment pay-4, parcel TRK-0003`);

  // The services' end state: what the completed orders took, and nothing of the compensated ones.
  expect(stdout).toContain(
    [
      'End state',
      '  stock lamp  7 on the shelf, 3 allocated to orders',
      '  stock desk  2 on the shelf, 1 allocated to orders',
      '  stock chair 7 on the shelf, 1 allocated to orders',
      `  payment pay-1 ${a} 260 € captured`,
      `  payment pay-2 ${c} 300 € refunded`,
      `  payment pay-3 ${d} 40 € captured`,
      `  payment pay-4 ${e} 60 € captured`,
      `  parcel TRK-0001 ${a} to FR`,
      `  parcel TRK-0002 ${d} to NL`,
      `  parcel TRK-0003 ${e} to BE`,
    ].join('\n'),
  );
  // The sagas as the store keeps them.
  expect(stdout).toContain(
    [
      `    ${a}  completed    done: reserve-stock, charge-payment, ship-order`,
      `    ${b}  compensated  done: reserve-stock; undone: reserve-stock`,
      `    ${c}  compensated  done: reserve-stock, charge-payment; undone: charge-payment, reserve-stock`,
      `    ${d}  completed    done: reserve-stock, charge-payment, ship-order`,
      `    ${e}  completed    done: reserve-stock, charge-payment, ship-order`,
      '',
      'Stopped',
    ].join('\n'),
  );
}

describe('examples/saga-order on PGlite', () => {
  let backend: SagaExampleBackend;
  let first: ExampleRun;
  let second: ExampleRun;

  beforeAll(async () => {
    backend = pgliteBackend('saga-order');
    first = await runExample('saga-order', backend.env);
    second = await runExample('saga-order', backend.env);
    console.log(`saga-order on PGlite: ${first.ms} ms, then ${second.ms} ms`);
  }, 180_000);

  afterAll(() => backend?.cleanUp());

  it('exits 0 with nothing on stderr, on PGlite', () => {
    expectCleanExit(first, LAST_LINE);
    expect(first.stdout).toMatch(backend.storeLine);
    expect(first.stdout).not.toContain('unfinished saga');
  });

  it('completes, compensates in reverse order, retries with the same idempotency key, and keeps one saga per order', () => {
    expectScenarios(first.stdout, 1001);
  });

  it('continues on a second run with the next order numbers, the earlier sagas still stored', () => {
    expectCleanExit(second, LAST_LINE);
    expect(second.stdout).not.toContain('ord-1005');
    expectScenarios(second.stdout, 1006);
  });
});

describe('examples/saga-order on PostgreSQL', () => {
  let backend: SagaExampleBackend;
  let run: ExampleRun;

  beforeAll(async () => {
    backend = await postgresBackend('saga_order');
    run = await runExample('saga-order', backend.env);
    console.log(`saga-order on PostgreSQL: ${run.ms} ms`);
  }, 180_000);

  afterAll(() => backend?.cleanUp());

  it('exits 0 with nothing on stderr, on PostgreSQL', () => {
    expectCleanExit(run, LAST_LINE);
    expect(run.stdout).toContain(backend.storeLine);
    expectScenarios(run.stdout, 1001);
  });

  it('leaves one row per saga in the sagas table: settled, released, with the context the steps filled in', async () => {
    const rows = await backend.query<{
      business_key: string;
      correlation_id: string;
      saga_name: string;
      status: string;
      owner: string | null;
      lease_expires_at: Date | null;
      completed: string[];
      compensated: string[];
      attempts: Record<string, number>;
      payment_id: string | null;
      tracking: string | null;
      error: string | null;
    }>(
      `SELECT business_key, correlation_id, saga_name, status, owner, lease_expires_at,
              state->'completedSteps' AS completed, state->'compensatedSteps' AS compensated,
              state->'attempts' AS attempts, state->'context'->>'paymentId' AS payment_id,
              state->'context'->>'trackingNumber' AS tracking, state->'error'->>'name' AS error
         FROM <schema>.sagas ORDER BY business_key`,
    );
    expect(rows).toEqual([
      {
        business_key: 'ord-1001',
        correlation_id: 'ord-1001',
        saga_name: 'order-fulfilment',
        status: 'completed',
        owner: null,
        lease_expires_at: null,
        completed: ['reserve-stock', 'charge-payment', 'ship-order'],
        compensated: [],
        attempts: { 'reserve-stock': 1, 'charge-payment': 1, 'ship-order': 1 },
        payment_id: 'pay-1',
        tracking: 'TRK-0001',
        error: null,
      },
      {
        business_key: 'ord-1002',
        correlation_id: 'ord-1002',
        saga_name: 'order-fulfilment',
        status: 'compensated',
        owner: null,
        lease_expires_at: null,
        completed: ['reserve-stock'],
        compensated: ['reserve-stock'],
        attempts: { 'reserve-stock': 1, 'charge-payment': 1 },
        payment_id: null,
        tracking: null,
        error: 'PaymentDeclinedError',
      },
      {
        business_key: 'ord-1003',
        correlation_id: 'ord-1003',
        saga_name: 'order-fulfilment',
        status: 'compensated',
        owner: null,
        lease_expires_at: null,
        completed: ['reserve-stock', 'charge-payment'],
        compensated: ['charge-payment', 'reserve-stock'],
        attempts: { 'reserve-stock': 1, 'charge-payment': 1, 'ship-order': 1 },
        payment_id: 'pay-2',
        tracking: null,
        error: 'ShippingRefusedError',
      },
      {
        business_key: 'ord-1004',
        correlation_id: 'ord-1004',
        saga_name: 'order-fulfilment',
        status: 'completed',
        owner: null,
        lease_expires_at: null,
        completed: ['reserve-stock', 'charge-payment', 'ship-order'],
        compensated: [],
        attempts: { 'reserve-stock': 1, 'charge-payment': 2, 'ship-order': 1 },
        payment_id: 'pay-3',
        tracking: 'TRK-0002',
        error: null,
      },
      {
        business_key: 'ord-1005',
        correlation_id: 'ord-1005',
        saga_name: 'order-fulfilment',
        status: 'completed',
        owner: null,
        lease_expires_at: null,
        completed: ['reserve-stock', 'charge-payment', 'ship-order'],
        compensated: [],
        attempts: { 'reserve-stock': 1, 'charge-payment': 1, 'ship-order': 1 },
        payment_id: 'pay-4',
        tracking: 'TRK-0003',
        error: null,
      },
    ]);
  });
});
