import type { Clock } from '../core/clock';
import { InvalidTransitionError, PotterError, TransitionGuardRejectedError } from '../core/errors';
import type { CompiledTransition, MachineDefinition } from './machine-definition';
import { trimHistory } from './machine-definition';
import type {
  ActionArgs,
  EventMap,
  EventName,
  MachineEvent,
  MachineSnapshot,
  PayloadArgs,
  TransitionRecord,
} from './types';

/** The starting point of a machine instance. @internal */
export interface MachineInit<State extends string, Events extends EventMap, Context> {
  state: State;
  context: Context;
  history: TransitionRecord<State, EventName<Events>>[];
  version: number;
  clock: Clock;
  historyLimit: number;
  cloneContext: (context: Context) => Context;
}

/** An event waiting for its turn, with the promise of the `send` that queued it. */
interface QueuedSend<Events extends EventMap> {
  readonly event: MachineEvent<Events>;
  resolve(record: TransitionRecord<string, EventName<Events>>): void;
  reject(error: unknown): void;
}

/**
 * A running state machine: one instance of a {@link MachineDefinition}, created by
 * `definition.create()` or `definition.restore()`.
 *
 * **Serialisation.** Events are processed one at a time, in the order of the `send` calls; a `send`
 * made while a transition runs (from another caller, or from an action) waits in the queue — nothing
 * is locked across user code, so an action that sends never deadlocks the machine (it must not
 * *await* that send, though: the send settles after the transition that is waiting for the action).
 * Inside actions prefer `raise`, which runs the event right after the current transition.
 *
 * **Atomic transitions.** Guards run on the committed context. Then `onExit` of the source,
 * the transition's `action` and `onEnter` of the target run in this order on a draft copy of the
 * context. Only when all of them have resolved does the machine commit: state, context, version and
 * history change together. If a guard or an action throws, nothing is committed, the remaining
 * actions do not run, events raised so far are dropped and `send` rejects with the thrown value,
 * unchanged; the machine stays in the source state with its previous context and takes the next
 * event normally. (Side effects an action already made outside the context are not undone.)
 */
export class Machine<State extends string, Events extends EventMap, Context> {
  /** The definition this machine runs. */
  readonly definition: MachineDefinition<State, Events, Context>;

  #state: State;
  #context: Context;
  #version: number;
  readonly #history: TransitionRecord<State, EventName<Events>>[];
  readonly #clock: Clock;
  readonly #historyLimit: number;
  readonly #clone: (context: Context) => Context;
  readonly #queue: QueuedSend<Events>[] = [];
  #draining = false;
  #idleWaiters: (() => void)[] = [];

  /** Use `definition.create()` or `definition.restore()`. @internal */
  constructor(
    definition: MachineDefinition<State, Events, Context>,
    init: MachineInit<State, Events, Context>,
  ) {
    this.definition = definition;
    this.#state = init.state;
    this.#context = init.context;
    this.#version = init.version;
    this.#history = init.history;
    this.#clock = init.clock;
    this.#historyLimit = init.historyLimit;
    this.#clone = init.cloneContext;
  }

  /** The machine's id (the definition's). */
  get id(): string {
    return this.definition.id;
  }

  /** The current (committed) state. */
  get state(): State {
    return this.#state;
  }

  /** The committed context. Read it; change it only through actions. */
  get context(): Readonly<Context> {
    return this.#context;
  }

  /** How many transitions have committed (restored machines continue from their snapshot). */
  get version(): number {
    return this.#version;
  }

  /** True in a final state: every further event is an {@link InvalidTransitionError}. */
  get done(): boolean {
    return this.definition.isFinal(this.#state);
  }

  /** The kept history (a copy), oldest first, at most `historyLimit` entries. */
  get history(): TransitionRecord<State, EventName<Events>>[] {
    return this.#history.map((entry) => ({ ...entry }));
  }

  /** True while an event is being processed or waits in the queue. */
  get busy(): boolean {
    return this.#draining || this.#queue.length > 0;
  }

  /** The events that have a transition out of the current state (guards not evaluated). */
  nextEvents(): EventName<Events>[] {
    return this.definition.eventsFrom(this.#state);
  }

  /**
   * Queues an event and resolves, once it has been processed, with the committed transition.
   * Events raised by its actions (`raise`) run right after it, before any other queued send, and
   * this promise settles after them too (run to completion); it rejects if one of them fails, the
   * machine then being in the state of the last committed transition.
   *
   * Rejects, leaving the machine unchanged, with:
   * - {@link InvalidTransitionError} when the current state has no transition for the event (a final
   *   state has none);
   * - {@link TransitionGuardRejectedError} when every candidate transition is guarded and every guard
   *   refused — an expected, domain-level "not now", distinct from an invalid event. An error (rather
   *   than a result object) so that a refused event can never be mistaken for a processed one by a
   *   caller that ignores the result; use {@link Machine.can} to ask without failing;
   * - whatever a guard or an action threw, unchanged.
   */
  send<E extends EventName<Events>>(
    event: E,
    ...payload: PayloadArgs<Events[E]>
  ): Promise<TransitionRecord<State, EventName<Events>>> {
    const message = { type: event, payload: payload[0] } as MachineEvent<Events>;
    return new Promise((resolve, reject) => {
      this.#queue.push({
        event: message,
        resolve: resolve as (record: TransitionRecord<string, EventName<Events>>) => void,
        reject,
      });
      void this.#drain();
    });
  }

  /**
   * True when the event would be taken now: the current state has a transition for it whose guard
   * allows it (guards are evaluated; no action runs; queued events are not taken into account).
   */
  async can<E extends EventName<Events>>(event: E, ...payload: PayloadArgs<Events[E]>): Promise<boolean> {
    const message = { type: event, payload: payload[0] } as MachineEvent<Events>;
    const from = this.#state;
    const candidates = this.definition.stateOf(from)?.transitions.get(message.type);
    if (candidates === undefined) return false;
    for (const candidate of candidates) {
      if (await this.#allows(candidate, from, message)) return true;
    }
    return false;
  }

  /** Resolves when the queue is empty and no transition runs. */
  settled(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * The committed state as plain data (the context is copied): `JSON.stringify` it and give it back
   * to `definition.restore()`. Taken during a transition, it shows the state before it.
   */
  snapshot(): MachineSnapshot<State, EventName<Events>, Context> {
    return {
      machine: this.id,
      state: this.#state,
      context: this.#clone(this.#context),
      history: this.history,
      version: this.#version,
    };
  }

  /** `snapshot()`, so that `JSON.stringify(machine)` gives the snapshot. */
  toJSON(): MachineSnapshot<State, EventName<Events>, Context> {
    return this.snapshot();
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
        try {
          item.resolve(await this.#runToCompletion(item.event));
        } catch (error) {
          item.reject(error);
        }
      }
    } finally {
      this.#draining = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Processes an event, then the events its actions raised (and theirs), in order. */
  async #runToCompletion(event: MachineEvent<Events>): Promise<TransitionRecord<State, EventName<Events>>> {
    const raised: MachineEvent<Events>[] = [];
    const record = await this.#transition(event, raised);
    while (raised.length > 0) {
      const next = raised.shift() as MachineEvent<Events>;
      try {
        await this.#transition(next, raised);
      } catch (error) {
        raised.length = 0;
        throw error;
      }
    }
    return record;
  }

  /** One transition, all or nothing. Pushes the events its actions raise onto `raised` on success. */
  async #transition(
    event: MachineEvent<Events>,
    raised: MachineEvent<Events>[],
  ): Promise<TransitionRecord<State, EventName<Events>>> {
    const from = this.#state;
    const source = this.definition.stateOf(from);
    const candidates = source?.transitions.get(event.type);
    if (source === undefined || candidates === undefined) {
      throw new InvalidTransitionError(this.id, from, event.type, this.nextEvents());
    }
    let chosen: CompiledTransition<State, Events, Context> | undefined;
    const refusedBy: string[] = [];
    for (const candidate of candidates) {
      if (await this.#allows(candidate, from, event)) {
        chosen = candidate;
        break;
      }
      refusedBy.push(candidate.guard?.name ?? 'guard');
    }
    if (chosen === undefined) throw new TransitionGuardRejectedError(this.id, from, event.type, refusedBy);

    const external = chosen.target !== undefined;
    const to = chosen.target ?? from;
    const target = this.definition.stateOf(to);
    const pending: MachineEvent<Events>[] = [];
    let open = true;
    const args: ActionArgs<State, Events, Context> = {
      machine: this.id,
      from,
      to,
      event,
      context: this.#clone(this.#context),
      raise: (type, ...payload) => {
        if (!open) {
          throw new PotterError(
            'POTTER_ERROR',
            `Machine ${this.id}: raise("${type}") called after the transition on "${event.type}" ended; use send().`,
            { details: { machine: this.id, event: type } },
          );
        }
        pending.push({ type, payload: payload[0] } as MachineEvent<Events>);
      },
    };
    try {
      const actions = external ? [source.onExit, chosen.action, target?.onEnter] : [chosen.action];
      for (const action of actions) {
        if (action === undefined) continue;
        const result = await action(args);
        if (result !== undefined) args.context = result;
      }
    } finally {
      open = false;
    }

    this.#state = to;
    this.#context = args.context;
    this.#version += 1;
    const record: TransitionRecord<State, EventName<Events>> = {
      version: this.#version,
      from,
      to,
      event: event.type,
      at: this.#clock.now(),
    };
    this.#history.push(record);
    trimHistory(this.#history, this.#historyLimit);
    raised.push(...pending);
    return { ...record };
  }

  async #allows(
    candidate: CompiledTransition<State, Events, Context>,
    from: State,
    event: MachineEvent<Events>,
  ): Promise<boolean> {
    if (candidate.guard === undefined) return true;
    const allowed = await candidate.guard.check({ machine: this.id, from, event, context: this.#context });
    return allowed === true;
  }
}
