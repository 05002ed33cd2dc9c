import { isDeepStrictEqual } from 'node:util';
import { MessageContext } from '../core/message-context';
import { nameOf } from '../core/types';
import type { AggregateRoot } from '../eventsourcing/aggregate-root';
import { metadataRegistry } from '../metadata/metadata-registry';

type Action<A> = object | ((aggregate: A) => unknown);

/**
 * Given/when/then for aggregates, without any store:
 * `new AggregateFixture(Order).given(new OrderPlaced(…)).when(new ShipOrder(…)).expectEvents(new OrderShipped(…))`.
 * `when` takes a command (routed to the aggregate's `@CommandHandler` method) or a function
 * calling a behaviour method. Assertions throw an `Error` describing the difference.
 */
export class AggregateFixture<A extends AggregateRoot> {
  readonly #target: new () => A;
  #given: object[] = [];
  #id = 'aggregate-under-test';

  constructor(target: new () => A) {
    this.#target = target;
  }

  /** The aggregate id to use. @default 'aggregate-under-test' */
  withId(id: string): this {
    this.#id = id;
    return this;
  }

  /** Past events, folded into the aggregate before `when`. */
  given(...events: object[]): this {
    this.#given = [...this.#given, ...events];
    return this;
  }

  /** Runs a command or a function on the aggregate and returns the outcome to assert on. */
  when(action: Action<A>): AggregateFixtureResult<A> {
    const aggregate = new this.#target();
    aggregate.id = this.#id;
    aggregate.replay(this.#given, this.#given.length);
    let error: unknown;
    let result: unknown;
    try {
      result =
        typeof action === 'function'
          ? (action as (a: A) => unknown)(aggregate)
          : this.#dispatch(aggregate, action);
    } catch (caught) {
      error = caught;
    }
    return new AggregateFixtureResult(aggregate, [...aggregate.uncommittedEvents], error, result);
  }

  #dispatch(aggregate: A, command: object): unknown {
    const handler = metadataRegistry
      .getHandlers(this.#target)
      .find((h) => h.kind === 'command' && command instanceof h.message);
    if (!handler)
      throw new Error(`${this.#target.name} has no @CommandHandler method for ${nameOf(command)}.`);
    const context = new MessageContext('command', nameOf(command), command, 1, undefined, undefined);
    const fn = (aggregate as unknown as Record<string | symbol, (c: object, ctx: MessageContext) => unknown>)[
      handler.method
    ]!;
    const result = fn.call(aggregate, command, context);
    if (result instanceof Promise) {
      throw new Error(
        `${this.#target.name}.${String(handler.method)} is async: aggregate methods should decide synchronously.`,
      );
    }
    return result;
  }
}

/** The outcome of `AggregateFixture.when`. */
export class AggregateFixtureResult<A extends AggregateRoot> {
  constructor(
    /** The aggregate after the action. */
    readonly aggregate: A,
    /** Events the action raised. */
    readonly events: object[],
    /** What the action threw, if anything. */
    readonly error: unknown,
    /** What the action returned. */
    readonly result: unknown,
  ) {}

  /** Asserts the action raised exactly these events (same classes and fields, same order). */
  expectEvents(...expected: object[]): this {
    this.#noError();
    const same =
      expected.length === this.events.length &&
      expected.every(
        (e, i) =>
          e.constructor === this.events[i]!.constructor && isDeepStrictEqual({ ...e }, { ...this.events[i] }),
      );
    if (!same) {
      throw new Error(`Expected events ${describe(expected)}\n     but got ${describe(this.events)}`);
    }
    return this;
  }

  /** Asserts the action raised no event. */
  expectNoEvents(): this {
    return this.expectEvents();
  }

  /** Asserts the action threw an instance of `errorClass` (and, if given, with this message part). */
  expectError(errorClass: abstract new (...args: never[]) => unknown, messageIncludes?: string): this {
    if (!(this.error instanceof errorClass)) {
      throw new Error(
        `Expected ${errorClass.name}, but ${this.error === undefined ? 'nothing was thrown' : `got ${describe([this.error as object])}`}`,
      );
    }
    if (messageIncludes !== undefined && !(this.error as Error).message.includes(messageIncludes)) {
      throw new Error(
        `Expected the ${errorClass.name} message to include "${messageIncludes}", got "${(this.error as Error).message}"`,
      );
    }
    return this;
  }

  /** Runs assertions on the aggregate's state (throw from `check` to fail). */
  expectState(check: (aggregate: A) => void): this {
    this.#noError();
    check(this.aggregate);
    return this;
  }

  #noError(): void {
    if (this.error !== undefined)
      throw new Error(`The action threw ${describe([this.error as object])}`, { cause: this.error });
  }
}

function describe(values: object[]): string {
  return `[${values
    .map((v) => (v instanceof Error ? `${v.name}: ${v.message}` : `${nameOf(v)} ${JSON.stringify(v)}`))
    .join(', ')}]`;
}
