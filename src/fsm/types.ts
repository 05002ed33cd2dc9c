import type { Clock } from '../core/clock';

/**
 * The events a machine accepts, as a map from event name to payload type. Use `undefined` (or
 * `void`) for an event without payload: `{ start: undefined; fail: { reason: string } }`.
 * {@link SimpleEvents} builds one from a union of names.
 */
export type EventMap = object;

/** The event names of an {@link EventMap}. */
export type EventName<Events extends EventMap> = keyof Events & string;

/** An event map whose events carry no payload: `SimpleEvents<'start' | 'stop'>`. */
export type SimpleEvents<Name extends string> = { [K in Name]: undefined };

/**
 * The arguments of `send(event, …)` after the event name: the payload, optional when the event's
 * payload type admits `undefined`.
 */
export type PayloadArgs<Payload> = undefined extends Payload ? [payload?: Payload] : [payload: Payload];

/**
 * An event as guards and actions see it: its name and its payload. For the union of every event,
 * leave `Name` at its default; `event.type` then narrows `event.payload`.
 */
export type MachineEvent<Events extends EventMap, Name extends EventName<Events> = EventName<Events>> = {
  [K in Name]: { readonly type: K; readonly payload: Events[K] };
}[Name];

/** What a guard receives: the committed context (read-only), the event and the current state. */
export interface GuardArgs<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events> = EventName<Events>,
> {
  /** The machine's id. */
  readonly machine: string;
  /** The state the machine is in. */
  readonly from: State;
  /** The event being processed. */
  readonly event: MachineEvent<Events, Name>;
  /** The committed context. Guards must not change it. */
  readonly context: Readonly<Context>;
}

/** A predicate that allows (`true`) or refuses (`false`) a transition; may be async. */
export type GuardFn<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events> = EventName<Events>,
> = (args: GuardArgs<State, Events, Context, Name>) => boolean | Promise<boolean>;

/**
 * A guard with the name drawn on diagrams and reported in {@link TransitionGuardRejectedError}.
 * A plain function works too; its `name` is used then.
 */
export interface NamedGuard<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events> = EventName<Events>,
> {
  /** Shown as `event [name]` in `toMermaid()` and listed in the rejection error. */
  readonly name: string;
  /** The predicate. */
  readonly check: GuardFn<State, Events, Context, Name>;
}

/** A guard: a predicate, or a {@link NamedGuard}. */
export type Guard<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events> = EventName<Events>,
> = GuardFn<State, Events, Context, Name> | NamedGuard<State, Events, Context, Name>;

/**
 * What an action (`onExit`, a transition's `action`, `onEnter`) receives.
 *
 * `context` is a *draft*: a copy of the committed context that the action may change in place (or
 * return a replacement for). The draft becomes the machine's context only when the whole transition
 * succeeds; if any action throws, it is thrown away.
 */
export interface ActionArgs<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events> = EventName<Events>,
> {
  /** The machine's id. */
  readonly machine: string;
  /** The state the transition leaves. */
  readonly from: State;
  /** The state the transition enters (equal to `from` for a self or internal transition). */
  readonly to: State;
  /** The event being processed. */
  readonly event: MachineEvent<Events, Name>;
  /** The draft context: change it in place, or return a new one from the action. */
  context: Context;
  /**
   * Queues an event to process right after this transition commits, before any other pending
   * `send` (run to completion: the `send` that caused this transition settles after it). Dropped
   * if this transition fails. Returns nothing, so an action cannot wait for its own follow-up.
   */
  raise<E extends EventName<Events>>(event: E, ...payload: PayloadArgs<Events[E]>): void;
}

/**
 * An action: may be async; may return a new context (which replaces the draft) or nothing (the
 * draft, possibly changed in place, is kept).
 */
export type Action<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events> = EventName<Events>,
> = (args: ActionArgs<State, Events, Context, Name>) => Context | void | Promise<Context | void>;

/** One transition for the event `Name` out of a state. */
export interface TransitionConfig<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events> = EventName<Events>,
> {
  /**
   * The state to go to. Omit it for an *internal* transition: the machine stays where it is, runs
   * only `action`, and neither `onExit` nor `onEnter` runs. Naming the current state is a *self*
   * transition: `onExit` and `onEnter` run.
   */
  readonly target?: State;
  /** Allows or refuses the transition; when it refuses, the next candidate for the event is tried. */
  readonly guard?: Guard<State, Events, Context, Name>;
  /** Runs between the source's `onExit` and the target's `onEnter`. */
  readonly action?: Action<State, Events, Context, Name>;
  /** A description, kept for tooling (not drawn). */
  readonly description?: string;
}

/**
 * The transitions of one event: one transition, or candidates tried in order (the first whose
 * guard allows it wins; a candidate without guard always wins).
 */
export type TransitionsFor<
  State extends string,
  Events extends EventMap,
  Context,
  Name extends EventName<Events>,
> =
  TransitionConfig<State, Events, Context, Name> | readonly TransitionConfig<State, Events, Context, Name>[];

/** One state of a machine. */
export interface StateConfig<State extends string, Events extends EventMap, Context> {
  /** The transitions out of this state, by event. An event not listed here is invalid here. */
  readonly on?: { readonly [Name in EventName<Events>]?: TransitionsFor<State, Events, Context, Name> };
  /** Runs when a transition enters this state (last, after the transition's action). */
  readonly onEnter?: Action<State, Events, Context>;
  /** Runs when a transition leaves this state (first, before the transition's action). */
  readonly onExit?: Action<State, Events, Context>;
  /** A final state: no transition leaves it; a machine in it is `done`. */
  readonly final?: boolean;
  /** A description, kept for tooling (not drawn). */
  readonly description?: string;
}

/**
 * The definition given to {@link defineMachine}. Every state of `State` must be described; targets
 * must be states and `on` keys must be events (both checked by the compiler, and again at runtime
 * for definitions built dynamically). `context` is required unless `Context` admits `undefined`.
 */
export type MachineConfig<State extends string, Events extends EventMap, Context> = MachineConfigBase<
  State,
  Events,
  Context
> &
  (undefined extends Context
    ? { readonly context?: InitialContext<Context> }
    : { readonly context: InitialContext<Context> });

/**
 * The initial context of a new machine, or a factory returning a fresh one. Contexts must be
 * structured-cloneable data (JSON data if snapshots go through JSON), so a function here is always
 * taken as the factory.
 */
export type InitialContext<Context> = Context | (() => Context);

/** The parts of {@link MachineConfig} that do not depend on whether a context is required. */
export interface MachineConfigBase<State extends string, Events extends EventMap, Context> {
  /** The machine's name: used in errors, snapshots and diagrams. */
  readonly id: string;
  /** The state a new machine starts in. Its `onEnter` does not run on `create()`. */
  readonly initial: NoInfer<State>;
  /** Every state, by name. */
  readonly states: { readonly [S in State]: StateConfig<NoInfer<State>, Events, Context> };
  /** How many history entries a machine keeps (the most recent ones). Default 100; 0 keeps none. */
  readonly historyLimit?: number;
  /** Copies a context into the draft that actions work on. Default: `structuredClone`. */
  readonly cloneContext?: (context: Context) => Context;
}

/** One committed transition, as kept in the history. */
export interface TransitionRecord<State extends string = string, Event extends string = string> {
  /** The machine's version after this transition (1 for the first transition). */
  readonly version: number;
  /** The state left. */
  readonly from: State;
  /** The state entered (equal to `from` for self and internal transitions). */
  readonly to: State;
  /** The event that caused the transition. */
  readonly event: Event;
  /** When the transition committed, in ms since the epoch, from the machine's clock. */
  readonly at: number;
}

/**
 * A machine's whole state as plain data: `JSON.stringify` it, store it, and give it back to
 * `definition.restore()`.
 */
export interface MachineSnapshot<
  State extends string = string,
  Event extends string = string,
  Context = unknown,
> {
  /** The machine's id (a snapshot restores only into the definition with this id). */
  readonly machine: string;
  /** The current state. */
  readonly state: State;
  /** The committed context. */
  readonly context: Context;
  /** The kept history, oldest first. */
  readonly history: readonly TransitionRecord<State, Event>[];
  /** How many transitions have committed since the machine was created. */
  readonly version: number;
}

/** Options of `definition.create()` and `definition.restore()`. */
export interface MachineOptions<Context> {
  /** The initial context (`create()` only; overrides the definition's). */
  readonly context?: Context;
  /** Where history timestamps come from. Default: the system clock. */
  readonly clock?: Clock;
  /** Overrides the definition's `historyLimit`. */
  readonly historyLimit?: number;
}
