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
 * examples/saga-parallel as a user runs it (the built example, importing the built package), on
 * PGlite and on PostgreSQL: a parallel group whose flaky branch is retried with backoff, and whose
 * succeeded branches are compensated when another fails. PostgreSQL must be up: the tests fail,
 * never skip, without it.
 */

const LAST_LINE = 'Stopped; the sagas stay in the store: run it again for the next trips';

/** The `+N ms` of the airline's lines for a trip, in order. */
function airlineTimes(stdout: string, trip: string): number[] {
  return linesOf(stdout, trip)
    .map((line) => new RegExp(`^\\[airline\\] ${trip} \\+(\\d+) ms: `).exec(line)?.[1])
    .filter((ms): ms is string => ms !== undefined)
    .map(Number);
}

/** The saga lines of one branch of a trip. */
function branch(stdout: string, trip: string, step: string): string[] {
  return sagaTrace(stdout, trip).filter(
    (line) => line.startsWith(`${step}: `) || line.startsWith(`undo ${step}: `),
  );
}

describe.each([
  ['PGlite', () => Promise.resolve(pgliteBackend('saga-parallel'))],
  ['PostgreSQL', () => postgresBackend('saga_parallel')],
] as const)('examples/saga-parallel on %s', (_name, makeBackend) => {
  let backend: SagaExampleBackend;
  let run: ExampleRun;

  beforeAll(async () => {
    backend = await makeBackend();
    run = await runExample('saga-parallel', backend.env);
    console.log(`saga-parallel on ${backend.name}: ${run.ms} ms`);
  }, 180_000);

  afterAll(() => backend?.cleanUp());

  it('exits 0 with nothing on stderr', () => {
    expectCleanExit(run, LAST_LINE);
    expect(run.stdout).toMatch(backend.storeLine);
    expect(run.stdout).toContain('Airline retry policy: 4 attempts, 100 ms then x2 between them');
  });

  it('books the three branches at once, and retries the flaky airline with growing delays', () => {
    const trace = sagaTrace(run.stdout, 'trip-1');
    // The three branches start before any of them is done: they run concurrently.
    const firstDone = trace.findIndex((line) => line.endsWith(': done'));
    expect(trace.slice(0, firstDone).filter((line) => line.endsWith(': attempt 1'))).toEqual([
      'book-flight: attempt 1',
      'book-hotel: attempt 1',
      'rent-car: attempt 1',
    ]);
    expect(branch(run.stdout, 'trip-1', 'book-flight')).toEqual([
      'book-flight: attempt 1',
      'book-flight: attempt 1 failed, will retry (AirlineUnavailableError: 503 Service Unavailable)',
      'book-flight: attempt 2',
      'book-flight: attempt 2 failed, will retry (AirlineUnavailableError: 503 Service Unavailable)',
      'book-flight: attempt 3',
      'book-flight: done',
    ]);
    // Exponential backoff, no jitter: 100 ms, then 200 ms between the attempts (plus the saves).
    const times = airlineTimes(run.stdout, 'trip-1');
    expect(times).toHaveLength(3);
    const [t1, t2, t3] = times as [number, number, number];
    expect(t1).toBe(0);
    expect(t2).toBeGreaterThanOrEqual(100);
    expect(t3 - t2).toBeGreaterThanOrEqual(200);
    // The itinerary goes out once the whole group is done.
    expect(trace.indexOf('send-itinerary: attempt 1')).toBeGreaterThan(
      Math.max(...['book-flight', 'book-hotel', 'rent-car'].map((step) => trace.indexOf(`${step}: done`))),
    );
    expect(trace.slice(-3)).toEqual(['send-itinerary: attempt 1', 'send-itinerary: done', 'completed']);
    expect(run.stdout).toContain('[mail] trip-1: itinerary sent to ann: FL-1, HT-1, CR-1');
    expect(run.stdout).toContain('trip-1 completed: flight FL-1, room HT-1, car CR-1');
  });

  it('cancels the flight and the hotel when no car is left (most recent first), and sends no itinerary', () => {
    const trace = sagaTrace(run.stdout, 'trip-2');
    expect(branch(run.stdout, 'trip-2', 'rent-car')).toEqual([
      'rent-car: attempt 1',
      'rent-car: attempt 1 failed, no retry (NoCarAvailableError: No car available in Porto from 2026-06-01.)',
    ]);
    const failedAt = trace.indexOf(
      'failed, compensating (NoCarAvailableError: No car available in Porto from 2026-06-01.)',
    );
    expect(failedAt).toBeGreaterThan(0);
    expect(linesOf(run.stdout, 'trip-2').slice(-7)).toEqual([
      '[saga] trip-2 undo book-hotel: attempt 1',
      '[hotels] trip-2: cancelled HT-2',
      '[saga] trip-2 undo book-hotel: done',
      '[saga] trip-2 undo book-flight: attempt 1',
      '[airline] trip-2: cancelled FL-2',
      '[saga] trip-2 undo book-flight: done',
      '[saga] trip-2 compensated',
    ]);
    expect(trace.some((line) => line.startsWith('send-itinerary'))).toBe(false);
    expect(run.stdout).toContain('trip-2 compensated (NoCarAvailableError): undone book-hotel, book-flight');
  });

  it('gives the airline up after 4 attempts, then cancels the car and the hotel', () => {
    expect(branch(run.stdout, 'trip-3', 'book-flight')).toEqual([
      'book-flight: attempt 1',
      'book-flight: attempt 1 failed, will retry (AirlineUnavailableError: 503 Service Unavailable)',
      'book-flight: attempt 2',
      'book-flight: attempt 2 failed, will retry (AirlineUnavailableError: 503 Service Unavailable)',
      'book-flight: attempt 3',
      'book-flight: attempt 3 failed, will retry (AirlineUnavailableError: 503 Service Unavailable)',
      'book-flight: attempt 4',
      'book-flight: attempt 4 failed, no retry (AirlineUnavailableError: 503 Service Unavailable)',
    ]);
    const times = airlineTimes(run.stdout, 'trip-3');
    expect(times).toHaveLength(4);
    const [t1, t2, t3, t4] = times as [number, number, number, number];
    expect(t1).toBe(0);
    expect(t2).toBeGreaterThanOrEqual(100);
    expect(t3 - t2).toBeGreaterThanOrEqual(200);
    expect(t4 - t3).toBeGreaterThanOrEqual(400);
    expect(linesOf(run.stdout, 'trip-3').slice(-8)).toEqual([
      '[saga] trip-3 failed, compensating (AirlineUnavailableError: 503 Service Unavailable)',
      '[saga] trip-3 undo rent-car: attempt 1',
      '[cars] trip-3: cancelled CR-2',
      '[saga] trip-3 undo rent-car: done',
      '[saga] trip-3 undo book-hotel: attempt 1',
      '[hotels] trip-3: cancelled HT-3',
      '[saga] trip-3 undo book-hotel: done',
      '[saga] trip-3 compensated',
    ]);
    expect(run.stdout).toContain('trip-3 compensated (AirlineUnavailableError): undone rent-car, book-hotel');
  });

  it("keeps only the completed trip's bookings, and stores each saga's attempts and compensations", () => {
    expect(run.stdout).toContain(
      [
        'End state',
        '  flights booked: FL-1 (trip-1)',
        '  rooms booked:   HT-1 (trip-1)',
        '  cars rented:    CR-1 (trip-1)',
        '  sagas of this run, read back from the saga store:',
        '    trip-1  completed    attempts: book-flight x3, book-hotel x1, rent-car x1, send-itinerary x1; undone: nothing',
        '    trip-2  compensated  attempts: book-flight x1, book-hotel x1, rent-car x1; undone: book-hotel, book-flight',
        '    trip-3  compensated  attempts: book-flight x4, book-hotel x1, rent-car x1; undone: rent-car, book-hotel',
      ].join('\n'),
    );
  });
});
