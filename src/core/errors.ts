import { nameOf } from './types';

/**
 * Every stable error code Potter raises, with the HTTP status a transport maps it to and a one-line
 * description. docs/errors.md lists the same codes; a unit test keeps the two in sync.
 */
export const ERROR_CATALOG = {
  POTTER_ERROR: { status: 500, description: 'Generic Potter error (base class).' },
  POTTER_VALIDATION_FAILED: { status: 400, description: 'A message or payload failed validation.' },
  POTTER_HANDLER_NOT_FOUND: { status: 404, description: 'No handler is registered for a command or query.' },
  POTTER_DUPLICATE_HANDLER: { status: 500, description: 'A command or query has more than one handler.' },
  POTTER_CONCURRENCY_CONFLICT: { status: 409, description: 'An optimistic-concurrency check failed.' },
  POTTER_TIMEOUT: { status: 504, description: 'An operation did not finish within its deadline.' },
  POTTER_MISSING_DEPENDENCY: {
    status: 500,
    description: 'An optional npm package needed by an adapter is not installed.',
  },
  POTTER_SERIALIZATION_FAILED: { status: 400, description: 'A message could not be encoded or decoded.' },
  POTTER_UNKNOWN_MESSAGE_TYPE: { status: 400, description: 'A message type name is not registered.' },
  POTTER_INVALID_MESSAGE: {
    status: 400,
    description: 'A value is not a registered message (missing decorator or type name).',
  },
  POTTER_BOOTSTRAP_FAILED: {
    status: 500,
    description: 'The application graph is invalid; details list every problem.',
  },
  POTTER_PROVIDER_NOT_FOUND: { status: 500, description: 'A token cannot be resolved from the container.' },
  POTTER_APP_NOT_RUNNING: {
    status: 503,
    description: 'The application is stopping or stopped and takes no new messages.',
  },
  POTTER_SHUTDOWN_TIMEOUT: {
    status: 500,
    description: 'In-flight work did not drain before the stop deadline.',
  },
  POTTER_LIFECYCLE_HOOK_FAILED: { status: 500, description: 'An onInit, onStart or onStop hook threw.' },
  POTTER_EVENT_HANDLER_FAILED: { status: 500, description: 'An event handler failed after all its retries.' },
  POTTER_CONFIGURATION_INVALID: { status: 500, description: 'An option passed to Potter is invalid.' },
  POTTER_STREAM_DELETED: {
    status: 410,
    description: 'The event stream was deleted: it can be neither read nor appended to.',
  },
  POTTER_AGGREGATE_NOT_FOUND: { status: 404, description: 'No event stream exists for the aggregate id.' },
  POTTER_PROJECTION_FENCED: {
    status: 409,
    description: 'A projection instance lost its lease: another instance runs the projection now.',
  },
  POTTER_PROJECTION_NOT_FOUND: { status: 404, description: 'No projection is registered under the name.' },
  POTTER_INVALID_TRANSITION: {
    status: 409,
    description: 'A state machine has no transition for the event from its current state.',
  },
  POTTER_TRANSITION_GUARD_REJECTED: {
    status: 409,
    description: 'Every guard of the transitions for the event refused it; the state machine did not move.',
  },
  POTTER_SAGA_NOT_FOUND: { status: 404, description: 'No saga with this id is known.' },
  POTTER_SAGA_STATE: {
    status: 409,
    description: "The operation is not allowed in the saga's current status.",
  },
  POTTER_SAGA_CONFLICT: {
    status: 409,
    description: 'A saga with this id exists, or an open saga of the same type has this business key.',
  },
  POTTER_SAGA_CANCELLED: {
    status: 409,
    description: 'The saga was cancelled (the reason given to its steps).',
  },
  POTTER_SAGA_ABORTED: {
    status: 409,
    description: 'A branch of a parallel saga group was stopped because another branch failed.',
  },
  POTTER_SAGA_OWNERSHIP_LOST: {
    status: 409,
    description: 'An orchestrator instance lost its hold on a saga: another instance runs it now.',
  },
  POTTER_SAGA_INVALID_QUERY: {
    status: 400,
    description: 'A saga query has invalid arguments: a bad cursor, limit, time or status.',
  },
  POTTER_TWOPC_CONFLICT: { status: 409, description: 'A two-phase transaction with this id exists already.' },
  POTTER_TWOPC_NOT_FOUND: {
    status: 404,
    description: 'No two-phase transaction with this id is in the log.',
  },
  POTTER_TWOPC_STOPPED: {
    status: 503,
    description: 'A two-phase coordinator was closed while driving a transaction; recovery finishes it.',
  },
  POTTER_TWOPC_REMOTE_FAILED: {
    status: 502,
    description: 'A remote two-phase participant or outcome service failed (or the client closed first).',
  },
  POTTER_TWOPC_BAD_REQUEST: { status: 400, description: 'A two-phase request over a bus was malformed.' },
  POTTER_TWOPC_ABORTED: {
    status: 409,
    description:
      'A two-phase transaction run by a saga step was aborted (a participant refused or did not vote).',
  },
} as const satisfies Record<string, { status: number; description: string }>;

/** A stable Potter error code. */
export type ErrorCode = keyof typeof ERROR_CATALOG;

/** Structured, JSON-friendly context attached to an error. */
export type ErrorDetails = Record<string, unknown>;

/** Constructor options shared by every Potter error. */
export interface PotterErrorOptions {
  details?: ErrorDetails;
  cause?: unknown;
}

/**
 * Base class of every error Potter raises: a stable `code`, a human `message`, JSON-friendly
 * `details`, and the underlying `cause` when there is one.
 */
export class PotterError extends Error {
  /** Stable, documented code (see docs/errors.md). */
  readonly code: ErrorCode;
  /** Structured context, safe to log or serialise. */
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, options: PotterErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The HTTP status a transport should answer with for this error. */
  get httpStatus(): number {
    return ERROR_CATALOG[this.code].status;
  }

  /** A JSON representation without the stack (safe for API responses and logs). */
  toJSON(): { name: string; code: ErrorCode; message: string; details: ErrorDetails } {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/** True when `error` is a {@link PotterError}, optionally with the given code. */
export function isPotterError(error: unknown, code?: ErrorCode): error is PotterError {
  return error instanceof PotterError && (code === undefined || error.code === code);
}

/** One failed constraint of one field (nested fields use a dotted path). */
export interface FieldViolation {
  path: string;
  value?: unknown;
  constraints: Record<string, string>;
}

/** A message or payload failed validation; `details.violations` lists every field. */
export class ValidationError extends PotterError {
  readonly violations: FieldViolation[];
  constructor(messageType: string, violations: FieldViolation[], options: PotterErrorOptions = {}) {
    const summary = violations
      .map((v) => `${v.path}: ${Object.values(v.constraints).join('; ')}`)
      .join(' | ');
    super('POTTER_VALIDATION_FAILED', `${messageType} is invalid — ${summary}`, {
      ...options,
      details: { messageType, violations, ...options.details },
    });
    this.violations = violations;
  }
}

/** No handler is registered for a command or query. */
export class HandlerNotFoundError extends PotterError {
  constructor(kind: 'command' | 'query', messageType: string) {
    super(
      'POTTER_HANDLER_NOT_FOUND',
      `No ${kind} handler is registered for ${messageType}. Add a @${kind === 'command' ? 'CommandHandler' : 'QueryHandler'}(${messageType}) to a module's handlers.`,
      { details: { kind, messageType } },
    );
  }
}

/** A command or query has more than one handler. */
export class DuplicateHandlerError extends PotterError {
  constructor(kind: 'command' | 'query', messageType: string, handlers: string[]) {
    super(
      'POTTER_DUPLICATE_HANDLER',
      `${messageType} has ${handlers.length} ${kind} handlers (${handlers.join(', ')}); a ${kind} must have exactly one.`,
      { details: { kind, messageType, handlers } },
    );
  }
}

/** An optimistic-concurrency check failed: the stream moved on since it was read. */
export class ConcurrencyError extends PotterError {
  /** The stream that moved on. */
  readonly streamId: string;
  /** What the writer expected (a version, `'no_stream'`, `'exists'`…). */
  readonly expectedVersion: unknown;
  /** What the stream was at (a version, `'no_stream'`…). */
  readonly actualVersion: unknown;

  constructor(
    streamId: string,
    expectedVersion: unknown,
    actualVersion: unknown,
    options: PotterErrorOptions = {},
  ) {
    super(
      'POTTER_CONCURRENCY_CONFLICT',
      `Concurrency conflict on ${streamId}: expected version ${String(expectedVersion)}, actual ${String(actualVersion)}.`,
      { ...options, details: { streamId, expectedVersion, actualVersion, ...options.details } },
    );
    this.streamId = streamId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** An operation did not finish within its deadline. */
export class TimeoutError extends PotterError {
  constructor(operation: string, timeoutMs: number, options: PotterErrorOptions = {}) {
    super('POTTER_TIMEOUT', `${operation} timed out after ${timeoutMs} ms.`, {
      ...options,
      details: { operation, timeoutMs, ...options.details },
    });
  }
}

/** An optional peer dependency needed by an adapter is not installed. */
export class MissingDependencyError extends PotterError {
  constructor(packageName: string, feature: string, options: PotterErrorOptions = {}) {
    super(
      'POTTER_MISSING_DEPENDENCY',
      `${feature} needs the package "${packageName}": run \`npm i ${packageName}\`.`,
      {
        ...options,
        details: { packageName, feature, install: `npm i ${packageName}` },
      },
    );
  }
}

/** A message could not be encoded or decoded. */
export class SerializationError extends PotterError {
  constructor(
    message: string,
    options: PotterErrorOptions = {},
    code: ErrorCode = 'POTTER_SERIALIZATION_FAILED',
  ) {
    super(code, message, options);
  }
}

/** A message type name is not registered with the serializer (a kind of {@link SerializationError}). */
export class UnknownMessageTypeError extends SerializationError {
  constructor(typeName: string, known: string[] = []) {
    super(
      `Unknown message type "${typeName}": register its class (@Event/@Command/@Query) with the serializer.`,
      { details: { typeName, known } },
      'POTTER_UNKNOWN_MESSAGE_TYPE',
    );
  }
}

/** The event stream was soft-deleted: it can be neither read nor appended to. */
export class StreamDeletedError extends PotterError {
  constructor(streamId: string) {
    super('POTTER_STREAM_DELETED', `Stream ${streamId} was deleted.`, { details: { streamId } });
  }
}

/** No event stream exists for an aggregate id. */
export class AggregateNotFoundError extends PotterError {
  constructor(aggregateType: string, aggregateId: string) {
    super('POTTER_AGGREGATE_NOT_FOUND', `${aggregateType} ${aggregateId} does not exist.`, {
      details: { aggregateType, aggregateId },
    });
  }
}

/**
 * A projection instance tried to record progress after losing its lease (it was paused or cut off
 * past the lease's expiry and another instance took over). Nothing was written; the instance
 * stops running the projection.
 */
export class ProjectionFencedError extends PotterError {
  constructor(projection: string, token: number) {
    super(
      'POTTER_PROJECTION_FENCED',
      `Projection ${projection}: lease token ${token} is no longer current; another instance runs it now.`,
      { details: { projection, token } },
    );
  }
}

/** No projection is registered (or recorded) under a name. */
export class ProjectionNotFoundError extends PotterError {
  constructor(projection: string, known: readonly string[]) {
    super(
      'POTTER_PROJECTION_NOT_FOUND',
      `No projection named "${projection}"${known.length ? `; known: ${known.join(', ')}` : ''}.`,
      { details: { projection, known: [...known] } },
    );
  }
}

/**
 * A state machine received an event that has no transition from its current state (a final state
 * has none at all). Nothing changed. `details`: `machine`, `state`, `event`, `allowed` (the events
 * the current state accepts).
 */
export class InvalidTransitionError extends PotterError {
  constructor(machine: string, state: string, event: string, allowed: readonly string[]) {
    super(
      'POTTER_INVALID_TRANSITION',
      `Machine ${machine}: no transition for event "${event}" from state "${state}"` +
        (allowed.length ? ` (it accepts ${allowed.join(', ')}).` : ' (it accepts no event).'),
      { details: { machine, state, event, allowed: [...allowed] } },
    );
  }
}

/**
 * A state machine has transitions for the event from its current state, but every one of them is
 * guarded and every guard refused. Nothing changed. `details`: `machine`, `state`, `event`,
 * `guards` (the names of the guards that refused, in evaluation order).
 */
export class TransitionGuardRejectedError extends PotterError {
  constructor(machine: string, state: string, event: string, guards: readonly string[]) {
    super(
      'POTTER_TRANSITION_GUARD_REJECTED',
      `Machine ${machine}: event "${event}" refused in state "${state}" by guard(s) ${guards.join(', ')}.`,
      { details: { machine, state, event, guards: [...guards] } },
    );
  }
}

/** A value is not a registered message: its class lacks @Command/@Query/@Event. */
export class InvalidMessageError extends PotterError {
  constructor(value: unknown, expected: string) {
    const className = nameOf(value);
    super(
      'POTTER_INVALID_MESSAGE',
      `${className} is not a registered ${expected}: decorate the class with @${expected[0]!.toUpperCase()}${expected.slice(1)}().`,
      { details: { className, expected } },
    );
  }
}

/** One problem found while validating the application graph. */
export interface BootstrapProblem {
  code: string;
  message: string;
  details?: ErrorDetails;
}

/** The application graph is invalid; `problems` lists every issue found, not just the first. */
export class BootstrapError extends PotterError {
  readonly problems: BootstrapProblem[];
  constructor(problems: BootstrapProblem[]) {
    const lines = problems.map((p, i) => `  ${i + 1}. [${p.code}] ${p.message}`).join('\n');
    super(
      'POTTER_BOOTSTRAP_FAILED',
      `Potter found ${problems.length} problem(s) in the application:\n${lines}`,
      {
        details: { problems },
      },
    );
    this.problems = problems;
  }
}

/** A token cannot be resolved from the container. */
export class ProviderNotFoundError extends PotterError {
  constructor(token: string, options: PotterErrorOptions = {}) {
    super('POTTER_PROVIDER_NOT_FOUND', `No provider for ${token}. Add it to a module's providers.`, {
      ...options,
      details: { token, ...options.details },
    });
  }
}

/** The application is stopping or stopped and takes no new messages. */
export class AppNotRunningError extends PotterError {
  constructor(state: string, messageType: string) {
    super('POTTER_APP_NOT_RUNNING', `Cannot dispatch ${messageType}: the application is ${state}.`, {
      details: { state, messageType },
    });
  }
}

/** In-flight work did not finish before the stop deadline. */
export class ShutdownTimeoutError extends PotterError {
  constructor(timeoutMs: number, inFlight: number) {
    super(
      'POTTER_SHUTDOWN_TIMEOUT',
      `${inFlight} message(s) were still in flight after the ${timeoutMs} ms stop deadline.`,
      {
        details: { timeoutMs, inFlight },
      },
    );
  }
}

/** An onInit, onStart or onStop hook threw. */
export class LifecycleHookError extends PotterError {
  constructor(hook: string, provider: string, cause: unknown) {
    super('POTTER_LIFECYCLE_HOOK_FAILED', `${provider}.${hook}() failed: ${describeError(cause)}`, {
      cause,
      details: { hook, provider },
    });
  }
}

/** An event handler failed after all its retries; reported on the event bus error channel. */
export class EventHandlerFailedError extends PotterError {
  constructor(handler: string, eventType: string, attempts: number, cause: unknown) {
    super(
      'POTTER_EVENT_HANDLER_FAILED',
      `${handler} failed on ${eventType} after ${attempts} attempt(s): ${describeError(cause)}`,
      {
        cause,
        details: { handler, eventType, attempts },
      },
    );
  }
}

/** An option passed to Potter is invalid. */
export class ConfigurationError extends PotterError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('POTTER_CONFIGURATION_INVALID', message, { details });
  }
}

/** A short description of any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
