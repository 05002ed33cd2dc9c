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
 * examples/saga-conditional as a user runs it (the built example, importing the built package), on
 * PGlite and on PostgreSQL: conditional steps skipped or run, a saga deadline, a cancellation.
 * PostgreSQL must be up: the tests fail, never skip, without it.
 */

const LAST_LINE = 'Stopped; the sagas stay in the store: run it again for the next orders';

describe.each([
  ['PGlite', () => Promise.resolve(pgliteBackend('saga-conditional'))],
  ['PostgreSQL', () => postgresBackend('saga_conditional')],
] as const)('examples/saga-conditional on %s', (_name, makeBackend) => {
  let backend: SagaExampleBackend;
  let run: ExampleRun;

  beforeAll(async () => {
    backend = await makeBackend();
    run = await runExample('saga-conditional', backend.env);
    console.log(`saga-conditional on ${backend.name}: ${run.ms} ms`);
  }, 180_000);

  afterAll(() => backend?.cleanUp());

  it('exits 0 with nothing on stderr', () => {
    expectCleanExit(run, LAST_LINE);
    expect(run.stdout).toMatch(backend.storeLine);
  });

  it('skips both conditional steps of a small order, with a SagaStepSkipped event each', () => {
    expect(sagaTrace(run.stdout, 'ord-1')).toEqual([
      'started',
      'reserve-stock: attempt 1',
      'reserve-stock: done',
      'fraud-check: skipped',
      'gift-wrap: skipped',
      'charge-payment: attempt 1',
      'charge-payment: done',
      'confirm-order: attempt 1',
      'confirm-order: done',
      'completed',
    ]);
    expect(run.stdout).toContain('ord-1 completed (skipped fraud-check, gift-wrap): payment pay-1');
  });

  it('runs the gift wrap only when asked for, and the fraud check only for large orders', () => {
    expect(sagaTrace(run.stdout, 'ord-2').slice(3, 6)).toEqual([
      'fraud-check: skipped',
      'gift-wrap: attempt 1',
      'gift-wrap: done',
    ]);
    expect(run.stdout).toContain('[warehouse] ord-2: gift-wrapped, card says "Happy birthday!"');
    expect(run.stdout).toContain('ord-2 completed (skipped fraud-check): payment pay-2');

    // The review: requested by the step (a command), decided by an analyst (an event matched by order id).
    expect(linesOf(run.stdout, 'ord-3').slice(4, 9)).toEqual([
      '[saga] ord-3 fraud-check: attempt 1',
      '[risk] ord-3: review requested (2500 € from cleo)',
      '[risk] ord-3: approved by rita',
      '[saga] ord-3 fraud-check: done',
      '[saga] ord-3 gift-wrap: skipped',
    ]);
    expect(run.stdout).toContain('ord-3 completed (skipped gift-wrap): payment pay-3, approved by rita');
  });

  it('times the saga out while it waits for a review, and undoes it — the interrupted step included', () => {
    expect(linesOf(run.stdout, 'ord-4').slice(4)).toEqual([
      '[saga] ord-4 fraud-check: attempt 1',
      '[risk] ord-4: review requested (1800 € from dan)',
      '[saga] ord-4 fraud-check: attempt 1 failed, no retry (TimeoutError: Saga checkout timed out after 1500 ms.)',
      '[saga] ord-4 failed, compensating (TimeoutError: Saga checkout timed out after 1500 ms.)',
      '[saga] ord-4 undo fraud-check: attempt 1',
      '[risk] ord-4: review request withdrawn',
      '[saga] ord-4 undo fraud-check: done',
      '[saga] ord-4 undo reserve-stock: attempt 1',
      '[warehouse] ord-4: items back on the shelf',
      '[saga] ord-4 undo reserve-stock: done',
      '[saga] ord-4 compensated',
    ]);
    expect(run.stdout).toContain(
      'ord-4 compensated (TimeoutError: Saga checkout timed out after 1500 ms.): undone fraud-check, reserve-stock',
    );
  });

  it('cancels a saga on request: the step in flight is aborted, what was done is undone, the saga ends cancelled', () => {
    expect(run.stdout).toContain('Cancellation requested: true');
    const lines = linesOf(run.stdout, 'ord-5');
    expect(lines[6]).toMatch(
      /^\[saga\] ord-5 fraud-check: attempt 1 failed, no retry \(SagaCancelledError: Saga \S+ was cancelled: the customer cancelled the order\.\)$/,
    );
    expect(lines.slice(7)).toEqual([
      '[saga] ord-5 undo fraud-check: attempt 1',
      '[risk] ord-5: review request withdrawn',
      '[saga] ord-5 undo fraud-check: done',
      '[saga] ord-5 undo reserve-stock: attempt 1',
      '[warehouse] ord-5: items back on the shelf',
      '[saga] ord-5 undo reserve-stock: done',
      '[saga] ord-5 cancelled',
    ]);
    expect(run.stdout).toMatch(
      /^ord-5 cancelled \(SagaCancelledError: .*\): undone fraud-check, reserve-stock$/m,
    );
  });

  it('ends with the completed orders only, and the skipped steps in the stored state', () => {
    expect(run.stdout).toContain(
      [
        'End state',
        '  stock reserved for: ord-1, ord-2, ord-3',
        '  gift-wrapped: ord-2',
        '  payment pay-1 ord-1 80 € captured',
        '  payment pay-2 ord-2 450 € captured',
        '  payment pay-3 ord-3 2500 € captured',
        '  reviews pending: none',
        '  sagas of this run, read back from the saga store:',
        '    ord-1     completed    done: reserve-stock, charge-payment, confirm-order; skipped: fraud-check, gift-wrap; undone: none',
        '    ord-2     completed    done: reserve-stock, gift-wrap, charge-payment, confirm-order; skipped: fraud-check; undone: none',
        '    ord-3     completed    done: reserve-stock, fraud-check, charge-payment, confirm-order; skipped: gift-wrap; undone: none',
        '    ord-4     compensated  done: reserve-stock, fraud-check; skipped: none; undone: fraud-check, reserve-stock',
        '    ord-5     cancelled    done: reserve-stock, fraud-check; skipped: none; undone: fraud-check, reserve-stock',
      ].join('\n'),
    );
  });
});
