import { systemClock } from '../core/clock';
import { ConfigurationError } from '../core/errors';
import { Machine } from './machine';
import { renderMermaid } from './mermaid';
import type {
  Action,
  EventMap,
  EventName,
  GuardFn,
  InitialContext,
  MachineConfig,
  MachineOptions,
  MachineSnapshot,
  TransitionRecord,
} from './types';

/** A transition after validation: the guard normalised to a function and a name. @internal */
export interface CompiledTransition<State extends string, Events extends EventMap, Context> {
  readonly event: EventName<Events>;
  /** Undefined for an internal transition. */
  readonly target: State | undefined;
  readonly guard: { readonly name: string; readonly check: GuardFn<State, Events, Context> } | undefined;
  readonly action: Action<State, Events, Context> | undefined;
}

/** A state after validation. @internal */
export interface CompiledState<State extends string, Events extends EventMap, Context> {
  readonly name: State;
  readonly final: boolean;
  readonly onEnter: Action<State, Events, Context> | undefined;
  readonly onExit: Action<State, Events, Context> | undefined;
  /** Candidates by event, in definition order. */
  readonly transitions: ReadonlyMap<EventName<Events>, readonly CompiledTransition<State, Events, Context>[]>;
}

/** The default number of history entries a machine keeps. */
export const DEFAULT_HISTORY_LIMIT = 100;

/**
 * A validated, immutable machine definition, returned by {@link defineMachine}. It creates machine
 * instances (`create()`), brings saved ones back (`restore()`) and draws itself (`toMermaid()`).
 */
export class MachineDefinition<State extends string, Events extends EventMap, Context> {
  /** The machine's name. */
  readonly id: string;
  /** The state new machines start in. */
  readonly initial: State;
  /** Every state, in definition order. */
  readonly states: readonly State[];
  /** The final states, in definition order. */
  readonly finalStates: readonly State[];
  /** Every event that has a transition somewhere, in order of first appearance. */
  readonly events: readonly EventName<Events>[];
  /** The history cap new instances use unless given another. */
  readonly historyLimit: number;

  readonly #config: MachineConfig<State, Events, Context>;
  readonly #compiled: ReadonlyMap<State, CompiledState<State, Events, Context>>;

  /** Use {@link defineMachine}; this constructor expects an already validated definition. @internal */
  constructor(config: MachineConfig<State, Events, Context>) {
    this.#config = config;
    this.id = config.id;
    this.initial = config.initial;
    this.historyLimit = config.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    const compiled = new Map<State, CompiledState<State, Events, Context>>();
    const events: EventName<Events>[] = [];
    for (const name of Object.keys(config.states) as State[]) {
      const state = config.states[name];
      const transitions = new Map<EventName<Events>, CompiledTransition<State, Events, Context>[]>();
      for (const [event, spec] of Object.entries(state.on ?? {}) as [EventName<Events>, unknown][]) {
        if (spec === undefined) continue;
        if (!events.includes(event)) events.push(event);
        transitions.set(
          event,
          asCandidates(spec).map((candidate) => compileTransition(event, candidate)),
        );
      }
      compiled.set(name, {
        name,
        final: state.final === true,
        onEnter: state.onEnter,
        onExit: state.onExit,
        transitions,
      });
    }
    this.#compiled = compiled;
    this.states = [...compiled.keys()];
    this.finalStates = this.states.filter((name) => compiled.get(name)?.final === true);
    this.events = events;
  }

  /** True when `state` is a final state of this machine. */
  isFinal(state: State): boolean {
    return this.#compiled.get(state)?.final === true;
  }

  /** The events that have a transition out of `state` (guards not evaluated), in definition order. */
  eventsFrom(state: State): EventName<Events>[] {
    return [...(this.#compiled.get(state)?.transitions.keys() ?? [])];
  }

  /** The compiled description of a state. @internal */
  stateOf(state: State): CompiledState<State, Events, Context> | undefined {
    return this.#compiled.get(state);
  }

  /**
   * A new machine in the initial state, with version 0 and an empty history. The initial state's
   * `onEnter` does not run (no transition entered it).
   *
   * @throws ConfigurationError when `historyLimit` is invalid.
   */
  create(options: MachineOptions<Context> = {}): Machine<State, Events, Context> {
    const context = options.context !== undefined ? options.context : this.#initialContext();
    return new Machine(this, {
      state: this.initial,
      context,
      history: [],
      version: 0,
      clock: options.clock ?? systemClock,
      historyLimit: this.#historyLimit(options.historyLimit),
      cloneContext: this.cloneContext,
    });
  }

  /**
   * A machine in the state a {@link MachineSnapshot} describes (typically one parsed back from
   * JSON). No action runs. The history is cut to the limit.
   *
   * @throws ConfigurationError listing every problem when the snapshot belongs to another machine,
   *   names an unknown state, or has a malformed version or history.
   */
  restore(
    snapshot: MachineSnapshot<State, EventName<Events>, Context>,
    options: Omit<MachineOptions<Context>, 'context'> = {},
  ): Machine<State, Events, Context> {
    const problems = this.#snapshotProblems(snapshot);
    if (problems.length > 0) {
      throw new ConfigurationError(
        `Cannot restore machine ${this.id} from the snapshot:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
        { machine: this.id, problems },
      );
    }
    const historyLimit = this.#historyLimit(options.historyLimit);
    return new Machine(this, {
      state: snapshot.state,
      context: this.cloneContext(snapshot.context),
      history: trimHistory(
        snapshot.history.map((entry) => ({ ...entry })),
        historyLimit,
      ),
      version: snapshot.version,
      clock: options.clock ?? systemClock,
      historyLimit,
      cloneContext: this.cloneContext,
    });
  }

  /**
   * The machine drawn as a Mermaid `stateDiagram-v2`: `[*] --> initial`, one arrow per transition
   * labelled `event` or `event [guard]`, and `final --> [*]` for each final state. States whose
   * names are not plain identifiers are declared with an alias (`state "name" as s2`).
   */
  toMermaid(): string {
    return renderMermaid(this.initial, [...this.#compiled.values()]);
  }

  /** Copies a context (the definition's `cloneContext`, default `structuredClone`). @internal */
  readonly cloneContext = (context: Context): Context =>
    this.#config.cloneContext ? this.#config.cloneContext(context) : structuredClone(context);

  #initialContext(): Context {
    const initial = (this.#config as { context?: InitialContext<Context> }).context;
    // A context is data, so a function here is the factory form.
    if (typeof initial === 'function') return (initial as () => Context)();
    return initial === undefined ? (undefined as Context) : this.cloneContext(initial);
  }

  #historyLimit(limit: number | undefined): number {
    const value = limit ?? this.historyLimit;
    const problem = historyLimitProblem(value);
    if (problem !== undefined)
      throw new ConfigurationError(problem, { machine: this.id, historyLimit: value });
    return value;
  }

  #snapshotProblems(snapshot: unknown): string[] {
    if (typeof snapshot !== 'object' || snapshot === null) return ['the snapshot is not an object'];
    const problems: string[] = [];
    const { machine, state, version, history } = snapshot as Record<string, unknown>;
    if (machine !== this.id)
      problems.push(`it belongs to machine ${JSON.stringify(machine)}, not "${this.id}"`);
    if (typeof state !== 'string' || !this.#compiled.has(state as State)) {
      problems.push(`its state ${JSON.stringify(state)} is not a state of ${this.id}`);
    }
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
      problems.push(`its version ${JSON.stringify(version)} is not an integer >= 0`);
    }
    if (!Array.isArray(history)) problems.push('its history is not an array');
    else {
      history.forEach((entry: unknown, index) => {
        if (!this.#isRecord(entry)) problems.push(`history[${index}] is not a transition record`);
      });
    }
    return problems;
  }

  #isRecord(entry: unknown): entry is TransitionRecord<State, EventName<Events>> {
    if (typeof entry !== 'object' || entry === null) return false;
    const { version, from, to, event, at } = entry as Record<string, unknown>;
    return (
      typeof version === 'number' &&
      typeof from === 'string' &&
      this.#compiled.has(from as State) &&
      typeof to === 'string' &&
      this.#compiled.has(to as State) &&
      typeof event === 'string' &&
      typeof at === 'number'
    );
  }
}

/** The candidates of one `on` entry as an array. */
function asCandidates(spec: unknown): unknown[] {
  return Array.isArray(spec) ? (spec as unknown[]) : [spec];
}

/** Normalises a validated transition. */
function compileTransition<State extends string, Events extends EventMap, Context>(
  event: EventName<Events>,
  candidate: unknown,
): CompiledTransition<State, Events, Context> {
  const spec = candidate as {
    target?: State;
    guard?: GuardFn<State, Events, Context> | { name: string; check: GuardFn<State, Events, Context> };
    action?: Action<State, Events, Context>;
  };
  const guard = spec.guard;
  return {
    event,
    target: spec.target,
    guard:
      guard === undefined
        ? undefined
        : typeof guard === 'function'
          ? { name: guard.name || 'guard', check: guard }
          : { name: guard.name, check: guard.check },
    action: spec.action,
  };
}

/** Keeps the last `limit` entries. */
export function trimHistory<T>(history: T[], limit: number): T[] {
  if (history.length > limit) history.splice(0, history.length - limit);
  return history;
}

function historyLimitProblem(limit: unknown): string | undefined {
  if (limit === Number.POSITIVE_INFINITY) return undefined;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    return `historyLimit must be an integer >= 0 or Infinity, got ${String(limit)}`;
  }
  return undefined;
}

/** Every problem of a definition, as sentences; empty when it is valid. @internal */
export function definitionProblems(config: unknown): string[] {
  if (typeof config !== 'object' || config === null) return ['the definition is not an object'];
  const { id, initial, states, historyLimit, cloneContext } = config as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof id !== 'string' || id.trim() === '') problems.push('id must be a non-empty string');
  if (typeof states !== 'object' || states === null || Array.isArray(states)) {
    problems.push('states must be an object of state definitions');
    return problems;
  }
  const names = Object.keys(states);
  if (names.length === 0) problems.push('states is empty: a machine needs at least one state');
  if (typeof initial !== 'string' || !names.includes(initial)) {
    problems.push(`initial state ${JSON.stringify(initial)} is not a state (states: ${names.join(', ')})`);
  }
  if (historyLimit !== undefined) {
    const problem = historyLimitProblem(historyLimit);
    if (problem !== undefined) problems.push(problem);
  }
  if (cloneContext !== undefined && typeof cloneContext !== 'function') {
    problems.push('cloneContext must be a function');
  }
  for (const name of names) {
    const state = (states as Record<string, unknown>)[name];
    if (name === '') problems.push('a state has an empty name');
    if (typeof state !== 'object' || state === null) {
      problems.push(`state "${name}" is not an object`);
      continue;
    }
    problems.push(...stateProblems(name, state as Record<string, unknown>, names));
  }
  return problems;
}

function stateProblems(name: string, state: Record<string, unknown>, names: string[]): string[] {
  const problems: string[] = [];
  for (const hook of ['onEnter', 'onExit'] as const) {
    if (state[hook] !== undefined && typeof state[hook] !== 'function') {
      problems.push(`state "${name}": ${hook} must be a function`);
    }
  }
  const on = state['on'];
  if (on === undefined) return problems;
  if (typeof on !== 'object' || on === null || Array.isArray(on)) {
    problems.push(`state "${name}": on must be an object of transitions by event`);
    return problems;
  }
  const events = Object.entries(on).filter(([, spec]) => spec !== undefined);
  if (state['final'] === true && events.length > 0) {
    problems.push(
      `state "${name}" is final but has transitions (${events.map(([event]) => event).join(', ')})`,
    );
  }
  for (const [event, spec] of events) {
    const where = `state "${name}", event "${event}"`;
    if (event === '') problems.push(`state "${name}": an event has an empty name`);
    const candidates = asCandidates(spec);
    if (candidates.length === 0) problems.push(`${where}: an empty list of transitions`);
    candidates.forEach((candidate, index) => {
      const at = candidates.length > 1 ? `${where}, transition ${index + 1}` : where;
      if (typeof candidate !== 'object' || candidate === null) {
        problems.push(`${at}: the transition is not an object`);
        return;
      }
      const { target, guard, action } = candidate as Record<string, unknown>;
      if (target !== undefined && (typeof target !== 'string' || !names.includes(target))) {
        problems.push(`${at}: unknown target state ${JSON.stringify(target)}`);
      }
      if (guard !== undefined && !isGuard(guard)) {
        problems.push(`${at}: guard must be a function or { name, check }`);
      }
      if (action !== undefined && typeof action !== 'function')
        problems.push(`${at}: action must be a function`);
      if (guard === undefined && index < candidates.length - 1) {
        problems.push(`${at}: has no guard, so the transitions after it can never be taken`);
      }
    });
  }
  return problems;
}

function isGuard(guard: unknown): boolean {
  if (typeof guard === 'function') return true;
  if (typeof guard !== 'object' || guard === null) return false;
  const { name, check } = guard as Record<string, unknown>;
  return typeof name === 'string' && name !== '' && typeof check === 'function';
}

/**
 * Defines a state machine. Give the type parameters explicitly; the compiler then rejects unknown
 * target states, unknown events in `on`, a missing state and payloads of the wrong type:
 *
 * ```ts
 * type State = 'pending' | 'paid' | 'shipped' | 'cancelled';
 * type Events = { pay: { amount: number }; ship: undefined; cancel: { reason: string } };
 * const order = defineMachine<State, Events, { paid: number }>({
 *   id: 'order',
 *   initial: 'pending',
 *   context: { paid: 0 },
 *   states: {
 *     pending: { on: { pay: { target: 'paid', action: ({ context, event }) => { context.paid = event.payload.amount } } } },
 *     paid: { on: { ship: { target: 'shipped' } } },
 *     shipped: { final: true },
 *     cancelled: { final: true },
 *   },
 * });
 * const machine = order.create();
 * await machine.send('pay', { amount: 20 });
 * ```
 *
 * The definition is checked again at runtime (definitions built dynamically escape the compiler).
 *
 * @throws ConfigurationError listing every problem (`details.problems`): an initial state that is
 *   not a state, an unknown target, a final state with transitions, a malformed guard or action, a
 *   transition made unreachable by an unguarded one before it, an invalid `historyLimit`.
 */
export function defineMachine<State extends string, Events extends EventMap, Context = undefined>(
  config: MachineConfig<State, Events, Context>,
): MachineDefinition<State, Events, Context> {
  const problems = definitionProblems(config);
  if (problems.length > 0) {
    const machine = typeof config?.id === 'string' ? config.id : '<no id>';
    throw new ConfigurationError(
      `Machine ${machine} has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { machine, problems },
    );
  }
  return new MachineDefinition(config);
}
