import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as potter from 'potter';
import {
  AppNotRunningError,
  BootstrapError,
  ConcurrencyError,
  ConfigurationError,
  DuplicateHandlerError,
  ERROR_CATALOG,
  EventHandlerFailedError,
  HandlerNotFoundError,
  InvalidMessageError,
  LifecycleHookError,
  MissingDependencyError,
  PotterError,
  ProviderNotFoundError,
  SerializationError,
  ShutdownTimeoutError,
  TimeoutError,
  UnknownMessageTypeError,
  StreamDeletedError,
  AggregateNotFoundError,
  ProjectionFencedError,
  ProjectionNotFoundError,
  InvalidTransitionError,
  SagaNotFoundError,
  SagaStateError,
  SagaConflictError,
  SagaCancelledError,
  SagaAbortedError,
  SagaOwnershipLostError,
  SagaQueryError,
  TransitionGuardRejectedError,
  TwoPhaseConflictError,
  TwoPhaseCoordinatorStoppedError,
  TwoPhaseTransactionNotFoundError,
  TwoPhaseRemoteError,
  TwoPhaseBadRequestError,
  TwoPhaseAbortedError,
  ValidationError,
  isPotterError,
  type ErrorCode,
  type FieldViolation,
} from 'potter';

/** One row of the catalog table in docs/errors.md. */
interface DocsRow {
  code: string;
  className: string;
  status: number;
  meaning: string;
}

/** Reads the rows of the table under the "## Catalog" heading (cells may be padded by Prettier). */
function readDocsTable(): DocsRow[] {
  const markdown = readFileSync(join(__dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
  const section = markdown.split(/^## /m).find((part) => part.startsWith('Catalog'));
  if (section === undefined) throw new Error('docs/errors.md has no "## Catalog" section');
  const rows: DocsRow[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    const code = /^`([A-Z0-9_]+)`$/.exec(cells[0] ?? '')?.[1];
    if (code === undefined) continue; // header and separator rows
    const className = /^`(\w+)`$/.exec(cells[1] ?? '')?.[1] ?? `<no class in row ${code}>`;
    rows.push({ code, className, status: Number(cells[2]), meaning: cells[3] ?? '' });
  }
  return rows;
}

/** What a sample instance of an error class must carry. */
interface Sample {
  error: PotterError;
  details: Record<string, unknown>;
  /** The `cause` passed in, when the class takes one. */
  cause?: unknown;
}

const cause = new Error('root cause');
class NotDecorated {}
const violations: FieldViolation[] = [
  { path: 'amount', value: -20, constraints: { isPositive: 'amount must be a positive number' } },
  { path: 'address.city', value: '', constraints: { isNotEmpty: 'city should not be empty' } },
];
const problems = [
  { code: 'MISSING_DEPENDENCY', message: 'A needs B', details: { provider: 'A' } },
  { code: 'DEPENDENCY_CYCLE', message: 'A → B → A' },
];

/** A sample of every error class, by class name, built with representative arguments. */
const SAMPLES: Record<string, () => Sample> = {
  PotterError: () => ({
    error: new PotterError('POTTER_ERROR', 'Something failed.', { details: { where: 'here' }, cause }),
    details: { where: 'here' },
    cause,
  }),
  ValidationError: () => ({
    error: new ValidationError('Deposit', violations, { cause }),
    details: { messageType: 'Deposit', violations },
    cause,
  }),
  HandlerNotFoundError: () => ({
    error: new HandlerNotFoundError('query', 'GetBalance'),
    details: { kind: 'query', messageType: 'GetBalance' },
  }),
  DuplicateHandlerError: () => ({
    error: new DuplicateHandlerError('command', 'Deposit', ['A.execute', 'B.execute']),
    details: { kind: 'command', messageType: 'Deposit', handlers: ['A.execute', 'B.execute'] },
  }),
  ConcurrencyError: () => ({
    error: new ConcurrencyError('account-1', 3, 5, { cause }),
    details: { streamId: 'account-1', expectedVersion: 3, actualVersion: 5 },
    cause,
  }),
  TimeoutError: () => ({
    error: new TimeoutError('DepositHandler.execute handling Deposit', 250, { cause }),
    details: { operation: 'DepositHandler.execute handling Deposit', timeoutMs: 250 },
    cause,
  }),
  MissingDependencyError: () => ({
    error: new MissingDependencyError('pg', 'The PostgreSQL event store', { cause }),
    details: { packageName: 'pg', feature: 'The PostgreSQL event store', install: 'npm i pg' },
    cause,
  }),
  SerializationError: () => ({
    error: new SerializationError('Cannot deserialize Deposit.', { cause, details: { typeName: 'Deposit' } }),
    details: { typeName: 'Deposit' },
    cause,
  }),
  UnknownMessageTypeError: () => ({
    error: new UnknownMessageTypeError('Refund', ['Deposit', 'Withdraw']),
    details: { typeName: 'Refund', known: ['Deposit', 'Withdraw'] },
  }),
  StreamDeletedError: () => ({
    error: new StreamDeletedError('Order-1'),
    details: { streamId: 'Order-1' },
  }),
  ProjectionFencedError: () => ({
    error: new ProjectionFencedError('orders', 3),
    details: { projection: 'orders', token: 3 },
  }),
  ProjectionNotFoundError: () => ({
    error: new ProjectionNotFoundError('ordrs', ['orders']),
    details: { projection: 'ordrs', known: ['orders'] },
  }),
  SagaNotFoundError: () => ({ error: new SagaNotFoundError('s-1'), details: { sagaId: 's-1' } }),
  SagaStateError: () => ({
    error: new SagaStateError('s-1', 'completed', 'cancel'),
    details: { sagaId: 's-1', status: 'completed', operation: 'cancel' },
  }),
  SagaConflictError: () => ({
    error: new SagaConflictError('Saga s-1 is open.', { sagaId: 's-1' }),
    details: { sagaId: 's-1' },
  }),
  SagaCancelledError: () => ({
    error: new SagaCancelledError('s-1', 'customer asked'),
    details: { sagaId: 's-1', reason: 'customer asked' },
  }),
  SagaAbortedError: () => ({
    error: new SagaAbortedError('s-1', 'payments', 'card'),
    details: { sagaId: 's-1', group: 'payments', failedStep: 'card' },
  }),
  SagaOwnershipLostError: () => ({
    error: new SagaOwnershipLostError('s-1', 'node-a'),
    details: { sagaId: 's-1', owner: 'node-a' },
  }),
  SagaQueryError: () => ({
    error: new SagaQueryError('limit must be an integer from 1 to 1000, not 0.', { limit: 0 }),
    details: { limit: 0 },
  }),
  TwoPhaseConflictError: () => ({ error: new TwoPhaseConflictError('tx-1'), details: { txId: 'tx-1' } }),
  TwoPhaseTransactionNotFoundError: () => ({
    error: new TwoPhaseTransactionNotFoundError('tx-1'),
    details: { txId: 'tx-1' },
  }),
  TwoPhaseCoordinatorStoppedError: () => ({
    error: new TwoPhaseCoordinatorStoppedError('tx-1', 'node-a'),
    details: { txId: 'tx-1', owner: 'node-a' },
  }),
  TwoPhaseRemoteError: () => ({
    error: new TwoPhaseRemoteError('prepare', 'tx-1', { name: 'Error', message: 'no stock' }, 'north'),
    details: {
      operation: 'prepare',
      txId: 'tx-1',
      target: 'north',
      remote: { name: 'Error', message: 'no stock' },
    },
  }),
  TwoPhaseBadRequestError: () => ({
    error: new TwoPhaseBadRequestError('txId is missing'),
    details: { reason: 'txId is missing' },
  }),
  TwoPhaseAbortedError: () => ({
    error: new TwoPhaseAbortedError('tx-1', [
      { participant: 'north', vote: 'yes' },
      { participant: 'south', vote: 'no', error: { name: 'Error', message: 'no stock' } },
    ]),
    details: {
      txId: 'tx-1',
      votes: [
        { participant: 'north', vote: 'yes' },
        { participant: 'south', vote: 'no', error: { name: 'Error', message: 'no stock' } },
      ],
    },
  }),
  InvalidTransitionError: () => ({
    error: new InvalidTransitionError('order', 'shipped', 'pay', ['deliver']),
    details: { machine: 'order', state: 'shipped', event: 'pay', allowed: ['deliver'] },
  }),
  TransitionGuardRejectedError: () => ({
    error: new TransitionGuardRejectedError('order', 'pending', 'pay', ['fullyPaid']),
    details: { machine: 'order', state: 'pending', event: 'pay', guards: ['fullyPaid'] },
  }),
  AggregateNotFoundError: () => ({
    error: new AggregateNotFoundError('Order', 'o-1'),
    details: { aggregateType: 'Order', aggregateId: 'o-1' },
  }),
  InvalidMessageError: () => ({
    error: new InvalidMessageError(new NotDecorated(), 'command'),
    details: { className: 'NotDecorated', expected: 'command' },
  }),
  BootstrapError: () => ({ error: new BootstrapError(problems), details: { problems } }),
  ProviderNotFoundError: () => ({
    error: new ProviderNotFoundError('AccountStore', { cause, details: { reason: 'constructor threw' } }),
    details: { token: 'AccountStore', reason: 'constructor threw' },
    cause,
  }),
  AppNotRunningError: () => ({
    error: new AppNotRunningError('stopping', 'Deposit'),
    details: { state: 'stopping', messageType: 'Deposit' },
  }),
  ShutdownTimeoutError: () => ({
    error: new ShutdownTimeoutError(10_000, 2),
    details: { timeoutMs: 10_000, inFlight: 2 },
  }),
  LifecycleHookError: () => ({
    error: new LifecycleHookError('onStart', 'Database', cause),
    details: { hook: 'onStart', provider: 'Database' },
    cause,
  }),
  EventHandlerFailedError: () => ({
    error: new EventHandlerFailedError('Mailer.handle', 'AccountOpened', 3, cause),
    details: { handler: 'Mailer.handle', eventType: 'AccountOpened', attempts: 3 },
    cause,
  }),
  ConfigurationError: () => ({
    error: new ConfigurationError('maxAttempts must be an integer >= 1', { maxAttempts: 0 }),
    details: { maxAttempts: 0 },
  }),
};

/** Every class exported from 'potter' that is PotterError or extends it. */
function exportedErrorClasses(): [string, Function][] {
  return Object.entries(potter as Record<string, unknown>).filter(
    (entry): entry is [string, Function] =>
      typeof entry[1] === 'function' &&
      (entry[1] === PotterError || entry[1].prototype instanceof PotterError),
  );
}

const rows = readDocsTable();
const catalogCodes = Object.keys(ERROR_CATALOG) as ErrorCode[];

describe('docs/errors.md and ERROR_CATALOG', () => {
  it('has a table with one row per code', () => {
    expect(rows.length).toBeGreaterThan(0);
    const codes = rows.map((row) => row.code);
    expect(codes.filter((code, index) => codes.indexOf(code) !== index)).toEqual([]);
  });

  it('documents every code of the catalog', () => {
    const documented = new Set(rows.map((row) => row.code));
    expect(catalogCodes.filter((code) => !documented.has(code))).toEqual([]);
  });

  it('documents no code that the catalog lacks', () => {
    const known = new Set<string>(catalogCodes);
    expect(rows.map((row) => row.code).filter((code) => !known.has(code))).toEqual([]);
  });

  it.each(rows.map((row) => [row.code, row] as const))('%s: HTTP status and meaning match', (code, row) => {
    expect(row.status).toBe(ERROR_CATALOG[code as ErrorCode].status);
    expect(row.meaning.length).toBeGreaterThan(20);
  });

  it('names an exported error class in every row, and every exported error class in a row', () => {
    const exported = exportedErrorClasses().map(([name]) => name);
    expect(rows.map((row) => row.className).filter((name) => !exported.includes(name))).toEqual([]);
    const documented = new Set(rows.map((row) => row.className));
    expect(exported.filter((name) => !documented.has(name))).toEqual([]);
  });

  it('has a sample for every exported error class (add one when you add a class)', () => {
    expect(
      exportedErrorClasses()
        .map(([name]) => name)
        .sort(),
    ).toEqual(Object.keys(SAMPLES).sort());
  });
});

describe.each(rows.map((row) => [row.className, row] as const))('%s', (className, row) => {
  const sample = (): Sample => {
    const factory = SAMPLES[className];
    if (factory === undefined) throw new Error(`No sample for ${className}: add one to SAMPLES.`);
    return factory();
  };
  const exported = (potter as Record<string, unknown>)[className] as Function;

  it(`produces the code ${row.code} and its HTTP status`, () => {
    const { error } = sample();
    expect(error).toBeInstanceOf(exported);
    expect(error).toBeInstanceOf(PotterError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(row.code);
    expect(error.httpStatus).toBe(row.status);
    expect(error.name).toBe(className);
    expect(isPotterError(error)).toBe(true);
    expect(isPotterError(error, row.code as ErrorCode)).toBe(true);
    expect(error.stack).toContain(className);
  });

  it('carries its context in details', () => {
    const { error, details } = sample();
    expect(error.details).toEqual(details);
    expect(error.message.length).toBeGreaterThan(0);
  });

  it('keeps the cause when given one', () => {
    const { error, cause: given } = sample();
    if (given === undefined) expect(error.cause).toBeUndefined();
    else expect(error.cause).toBe(given);
  });

  it('serialises to { name, code, message, details } without stack or cause', () => {
    const { error } = sample();
    const json: unknown = JSON.parse(JSON.stringify(error));
    expect(json).toEqual({ name: className, code: row.code, message: error.message, details: error.details });
    expect(Object.keys(error.toJSON()).sort()).toEqual(['code', 'details', 'message', 'name']);
  });
});

describe('error messages name what is involved', () => {
  it('ValidationError lists every field and exposes the violations', () => {
    const error = new ValidationError('Deposit', violations);
    expect(error.violations).toEqual(violations);
    expect(error.message).toBe(
      'Deposit is invalid — amount: amount must be a positive number | address.city: city should not be empty',
    );
  });

  it('ValidationError merges extra details without losing the violations', () => {
    const error = new ValidationError('Deposit', violations, { details: { source: 'http' } });
    expect(error.details).toEqual({ messageType: 'Deposit', violations, source: 'http' });
  });

  it('HandlerNotFoundError tells which decorator to add', () => {
    expect(new HandlerNotFoundError('command', 'Deposit').message).toContain('@CommandHandler(Deposit)');
    expect(new HandlerNotFoundError('query', 'GetBalance').message).toContain('@QueryHandler(GetBalance)');
  });

  it('InvalidMessageError tells which decorator to add', () => {
    expect(new InvalidMessageError(new NotDecorated(), 'event').message).toBe(
      'NotDecorated is not a registered event: decorate the class with @Event().',
    );
  });

  it('MissingDependencyError names the npm install to run', () => {
    expect(new MissingDependencyError('kafkajs', 'The Kafka message bus').message).toContain(
      '`npm i kafkajs`',
    );
  });

  it('BootstrapError numbers every problem with its code', () => {
    const error = new BootstrapError(problems);
    expect(error.problems).toEqual(problems);
    expect(error.message).toBe(
      'Potter found 2 problem(s) in the application:\n  1. [MISSING_DEPENDENCY] A needs B\n  2. [DEPENDENCY_CYCLE] A → B → A',
    );
  });

  it('LifecycleHookError and EventHandlerFailedError describe their cause', () => {
    expect(new LifecycleHookError('onStop', 'Database', cause).message).toBe(
      'Database.onStop() failed: Error: root cause',
    );
    expect(new EventHandlerFailedError('Mailer.handle', 'AccountOpened', 3, 'boom').message).toBe(
      'Mailer.handle failed on AccountOpened after 3 attempt(s): boom',
    );
  });

  it('PotterError defaults details to {} and leaves cause unset', () => {
    const error = new PotterError('POTTER_ERROR', 'plain');
    expect(error.details).toEqual({});
    expect(error.cause).toBeUndefined();
    expect('cause' in error).toBe(false);
  });

  it('isPotterError rejects other errors and other codes', () => {
    expect(isPotterError(new Error('x'))).toBe(false);
    expect(isPotterError({ code: 'POTTER_TIMEOUT' })).toBe(false);
    expect(isPotterError(new TimeoutError('op', 1), 'POTTER_VALIDATION_FAILED')).toBe(false);
  });
});
