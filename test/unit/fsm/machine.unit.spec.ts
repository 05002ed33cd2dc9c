import {
  ConfigurationError,
  InvalidTransitionError,
  PotterError,
  TransitionGuardRejectedError,
  defineMachine,
  isPotterError,
  type MachineSnapshot,
} from 'potter';
import { ManualClock } from 'potter/testing';

type DoorState = 'closed' | 'open' | 'locked' | 'broken';
type DoorEvents = {
  open: undefined;
  close: undefined;
  lock: { code: string };
  unlock: { code: string };
  smash: undefined;
};
interface DoorContext {
  code: string | null;
  opens: number;
  log: string[];
}

/** A door whose actions log what ran, in order, into the context. */
function door(hooks: { failAt?: string; historyLimit?: number } = {}) {
  const step = (name: string) => (args: { context: DoorContext }) => {
    args.context.log.push(name);
    if (hooks.failAt === name) throw new Error(`${name} failed`);
  };
  return defineMachine<DoorState, DoorEvents, DoorContext>({
    id: 'door',
    initial: 'closed',
    context: () => ({ code: null, opens: 0, log: [] }),
    historyLimit: hooks.historyLimit,
    states: {
      closed: {
        onExit: step('exit closed'),
        onEnter: step('enter closed'),
        on: {
          open: {
            target: 'open',
            action: (args) => {
              step('open action')(args);
              args.context.opens += 1;
            },
          },
          lock: {
            target: 'locked',
            guard: function hasCode({ event }) {
              return event.payload.code.length === 4;
            },
            action: ({ context, event }) => ({ ...context, code: event.payload.code }),
          },
          smash: { target: 'broken' },
        },
      },
      open: {
        onExit: step('exit open'),
        onEnter: async (args) => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          step('enter open')(args);
        },
        on: { close: { target: 'closed', action: step('close action') }, smash: { target: 'broken' } },
      },
      locked: {
        on: {
          unlock: {
            target: 'closed',
            guard: {
              name: 'rightCode',
              check: async ({ context, event }) => context.code === event.payload.code,
            },
            action: ({ context }) => {
              context.code = null;
            },
          },
        },
      },
      broken: { final: true },
    },
  });
}

describe('Machine: transitions', () => {
  it('starts in the initial state with version 0, empty history, and the definition context', () => {
    const machine = door().create();
    expect(machine.state).toBe('closed');
    expect(machine.version).toBe(0);
    expect(machine.history).toEqual([]);
    expect(machine.context).toEqual({ code: null, opens: 0, log: [] });
    expect(machine.done).toBe(false);
    expect(machine.id).toBe('door');
    expect(machine.nextEvents()).toEqual(['open', 'lock', 'smash']);
  });

  it('does not run the initial state onEnter on create', () => {
    expect(door().create().context.log).toEqual([]);
  });

  it('create() takes a context that overrides the definition', () => {
    const machine = door().create({ context: { code: '1234', opens: 9, log: [] } });
    expect(machine.context.opens).toBe(9);
  });

  it('a factory context gives each machine its own copy', async () => {
    const definition = door();
    const a = definition.create();
    const b = definition.create();
    await a.send('open');
    expect(a.context.opens).toBe(1);
    expect(b.context.opens).toBe(0);
  });

  it('a plain context object is copied per machine', async () => {
    const definition = defineMachine<'a' | 'b', { go: undefined }, { n: number }>({
      id: 'copy',
      initial: 'a',
      context: { n: 0 },
      states: {
        a: {
          on: {
            go: {
              target: 'b',
              action: ({ context }) => {
                context.n += 1;
              },
            },
          },
        },
        b: {},
      },
    });
    const first = definition.create();
    await first.send('go');
    expect(first.context.n).toBe(1);
    expect(definition.create().context.n).toBe(0);
  });

  it('runs onExit → transition action → onEnter, then commits, and resolves with the record', async () => {
    const clock = new ManualClock(1_000);
    const machine = door().create({ clock });
    const record = await machine.send('open');
    expect(record).toEqual({ version: 1, from: 'closed', to: 'open', event: 'open', at: 1_000 });
    expect(machine.state).toBe('open');
    expect(machine.context.log).toEqual(['exit closed', 'open action', 'enter open']);
    expect(machine.context.opens).toBe(1);
    clock.advance(500);
    await machine.send('close');
    expect(machine.context.log).toEqual([
      'exit closed',
      'open action',
      'enter open',
      'exit open',
      'close action',
      'enter closed',
    ]);
    expect(machine.history).toEqual([
      { version: 1, from: 'closed', to: 'open', event: 'open', at: 1_000 },
      { version: 2, from: 'open', to: 'closed', event: 'close', at: 1_500 },
    ]);
    expect(machine.version).toBe(2);
  });

  it('passes the payload to guards and actions; an action may return a new context', async () => {
    const machine = door().create();
    await machine.send('lock', { code: '1234' });
    expect(machine.state).toBe('locked');
    expect(machine.context.code).toBe('1234');
  });

  it('gives actions from, to and the machine id', async () => {
    const seen: unknown[] = [];
    const definition = defineMachine<'a' | 'b', { go: { n: number } }>({
      id: 'args',
      initial: 'a',
      states: {
        a: {
          on: {
            go: {
              target: 'b',
              action: ({ machine, from, to, event }) => void seen.push({ machine, from, to, event }),
            },
          },
        },
        b: {},
      },
    });
    await definition.create().send('go', { n: 7 });
    expect(seen).toEqual([{ machine: 'args', from: 'a', to: 'b', event: { type: 'go', payload: { n: 7 } } }]);
  });

  it('a self transition runs onExit and onEnter; an internal one (no target) runs only its action', async () => {
    const log: string[] = [];
    const definition = defineMachine<'s', { self: undefined; internal: undefined }>({
      id: 'loops',
      initial: 's',
      states: {
        s: {
          onExit: () => void log.push('exit'),
          onEnter: () => void log.push('enter'),
          on: {
            self: { target: 's', action: () => void log.push('self') },
            internal: { action: () => void log.push('internal') },
          },
        },
      },
    });
    const machine = definition.create();
    await machine.send('self');
    expect(log).toEqual(['exit', 'self', 'enter']);
    log.length = 0;
    const record = await machine.send('internal');
    expect(log).toEqual(['internal']);
    expect(record).toMatchObject({ from: 's', to: 's', event: 'internal', version: 2 });
  });
});

describe('Machine: invalid transitions and guards', () => {
  it('rejects an event without transition from the current state with InvalidTransitionError', async () => {
    const machine = door().create();
    const error = await machine.send('close').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect(error).toBeInstanceOf(PotterError);
    expect(isPotterError(error, 'POTTER_INVALID_TRANSITION')).toBe(true);
    expect((error as InvalidTransitionError).details).toEqual({
      machine: 'door',
      state: 'closed',
      event: 'close',
      allowed: ['open', 'lock', 'smash'],
    });
    expect((error as Error).message).toBe(
      'Machine door: no transition for event "close" from state "closed" (it accepts open, lock, smash).',
    );
    expect(machine.state).toBe('closed');
    expect(machine.version).toBe(0);
    expect(machine.history).toEqual([]);
  });

  it('rejects an event name that the machine does not know (dynamic callers)', async () => {
    const machine = door().create();
    const send = machine.send.bind(machine) as (event: string) => Promise<unknown>;
    await expect(send('fly')).rejects.toMatchObject({
      code: 'POTTER_INVALID_TRANSITION',
      details: { event: 'fly' },
    });
  });

  it('a guard that refuses gives TransitionGuardRejectedError naming the guard, and nothing changes', async () => {
    const machine = door().create();
    const error = await machine.send('lock', { code: '12' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransitionGuardRejectedError);
    expect((error as TransitionGuardRejectedError).code).toBe('POTTER_TRANSITION_GUARD_REJECTED');
    expect((error as TransitionGuardRejectedError).details).toEqual({
      machine: 'door',
      state: 'closed',
      event: 'lock',
      guards: ['hasCode'],
    });
    expect(machine.state).toBe('closed');
    expect(machine.context.log).toEqual([]); // no action ran
    expect(machine.version).toBe(0);
  });

  it('async guards see the committed context and the payload', async () => {
    const machine = door().create();
    await machine.send('lock', { code: '1234' });
    await expect(machine.send('unlock', { code: '0000' })).rejects.toMatchObject({
      details: { guards: ['rightCode'] },
    });
    expect(machine.state).toBe('locked');
    await machine.send('unlock', { code: '1234' });
    expect(machine.state).toBe('closed');
    expect(machine.context.code).toBeNull();
  });

  it('tries candidates in order: the first allowed wins; all refusing lists every guard', async () => {
    const definition = defineMachine<'idle' | 'small' | 'big', { order: { qty: number } }>({
      id: 'candidates',
      initial: 'idle',
      states: {
        idle: {
          on: {
            order: [
              { target: 'big', guard: { name: 'isBig', check: ({ event }) => event.payload.qty >= 100 } },
              { target: 'small', guard: { name: 'isPositive', check: ({ event }) => event.payload.qty > 0 } },
            ],
          },
        },
        small: {},
        big: {},
      },
    });
    const big = definition.create();
    await big.send('order', { qty: 500 });
    expect(big.state).toBe('big');
    const small = definition.create();
    await small.send('order', { qty: 5 });
    expect(small.state).toBe('small');
    const none = definition.create();
    await expect(none.send('order', { qty: 0 })).rejects.toMatchObject({
      code: 'POTTER_TRANSITION_GUARD_REJECTED',
      details: { guards: ['isBig', 'isPositive'] },
    });
  });

  it('a guard that throws rejects send with its error; nothing changes', async () => {
    const boom = new Error('guard exploded');
    const definition = defineMachine<'a' | 'b', { go: undefined }>({
      id: 'g',
      initial: 'a',
      states: {
        a: {
          on: {
            go: {
              target: 'b',
              guard: () => {
                throw boom;
              },
            },
          },
        },
        b: {},
      },
    });
    const machine = definition.create();
    await expect(machine.send('go')).rejects.toBe(boom);
    expect(machine.state).toBe('a');
  });

  it('can() evaluates transitions and guards without changing anything', async () => {
    const machine = door().create();
    expect(await machine.can('open')).toBe(true);
    expect(await machine.can('close')).toBe(false);
    expect(await machine.can('lock', { code: '12' })).toBe(false);
    expect(await machine.can('lock', { code: '1234' })).toBe(true);
    expect(machine.state).toBe('closed');
    expect(machine.context.log).toEqual([]);
  });
});

describe('Machine: final states', () => {
  it('is done in a final state, and every event there is an InvalidTransitionError', async () => {
    const machine = door().create();
    await machine.send('smash');
    expect(machine.state).toBe('broken');
    expect(machine.done).toBe(true);
    expect(machine.nextEvents()).toEqual([]);
    const error = await machine.send('open').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect((error as InvalidTransitionError).details).toEqual({
      machine: 'door',
      state: 'broken',
      event: 'open',
      allowed: [],
    });
    expect((error as Error).message).toContain('(it accepts no event)');
  });

  it('the definition lists its final states', () => {
    expect(door().finalStates).toEqual(['broken']);
    expect(door().isFinal('broken')).toBe(true);
    expect(door().isFinal('open')).toBe(false);
  });
});

describe('Machine: a failing action leaves the machine as it was (atomic transitions)', () => {
  it.each(['exit closed', 'open action', 'enter open'])(
    'when "%s" throws: send rejects with that error, state/context/version/history unchanged, later steps skipped',
    async (failAt) => {
      const machine = door({ failAt }).create();
      const error = await machine.send('open').catch((e: unknown) => e);
      expect(error).toEqual(new Error(`${failAt} failed`)); // the thrown value, unwrapped
      expect(machine.state).toBe('closed');
      expect(machine.context).toEqual({ code: null, opens: 0, log: [] }); // the draft was discarded
      expect(machine.version).toBe(0);
      expect(machine.history).toEqual([]);
    },
  );

  it('the steps after the failing one do not run', async () => {
    const ran: string[] = [];
    const definition = defineMachine<'a' | 'b', { go: undefined }>({
      id: 'skip',
      initial: 'a',
      states: {
        a: {
          onExit: () => void ran.push('exit'),
          on: {
            go: {
              target: 'b',
              action: () => {
                ran.push('action');
                throw new Error('no');
              },
            },
          },
        },
        b: { onEnter: () => void ran.push('enter') },
      },
    });
    await expect(definition.create().send('go')).rejects.toThrow('no');
    expect(ran).toEqual(['exit', 'action']);
  });

  it('takes the next event normally after a failure', async () => {
    let fail = true;
    const definition = defineMachine<'a' | 'b', { go: undefined }>({
      id: 'retry',
      initial: 'a',
      states: {
        a: {
          on: {
            go: {
              target: 'b',
              action: async () => {
                if (fail) throw new Error('transient');
              },
            },
          },
        },
        b: {},
      },
    });
    const machine = definition.create();
    await expect(machine.send('go')).rejects.toThrow('transient');
    expect(machine.state).toBe('a');
    fail = false;
    await machine.send('go');
    expect(machine.state).toBe('b');
  });
});

describe('Machine: history', () => {
  it('keeps only the last `historyLimit` entries (definition option)', async () => {
    const machine = door({ historyLimit: 2 }).create();
    await machine.send('open');
    await machine.send('close');
    await machine.send('open');
    expect(machine.version).toBe(3);
    expect(machine.history.map((h) => h.version)).toEqual([2, 3]);
  });

  it('create() overrides the limit; 0 keeps none; Infinity keeps all', async () => {
    const none = door().create({ historyLimit: 0 });
    await none.send('open');
    expect(none.history).toEqual([]);
    expect(none.version).toBe(1);
    const all = door({ historyLimit: 1 }).create({ historyLimit: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 150; i++) await all.send(i % 2 === 0 ? 'open' : 'close');
    expect(all.history).toHaveLength(150);
  });

  it('keeps 100 entries by default', async () => {
    const machine = door().create();
    for (let i = 0; i < 130; i++) await machine.send(i % 2 === 0 ? 'open' : 'close');
    expect(machine.history).toHaveLength(100);
    expect(machine.history[0]?.version).toBe(31);
  });

  it('rejects an invalid limit', () => {
    expect(() => door().create({ historyLimit: -1 })).toThrow(ConfigurationError);
    expect(() => door().create({ historyLimit: 1.5 })).toThrow(/historyLimit/);
  });

  it('returns copies: changing them does not change the machine', async () => {
    const machine = door().create();
    await machine.send('open');
    const history = machine.history as { from: string }[];
    history[0]!.from = 'tampered';
    history.pop();
    expect(machine.history).toHaveLength(1);
    expect(machine.history[0]?.from).toBe('closed');
  });
});

describe('Machine: snapshots', () => {
  it('round-trips through JSON: state, context, history and version', async () => {
    const clock = new ManualClock(5);
    const definition = door();
    const machine = definition.create({ clock });
    await machine.send('open');
    await machine.send('close');
    await machine.send('lock', { code: '4321' });
    const snapshot = machine.snapshot();
    expect(snapshot).toEqual({
      machine: 'door',
      state: 'locked',
      context: {
        code: '4321',
        opens: 1,
        log: [
          'exit closed',
          'open action',
          'enter open',
          'exit open',
          'close action',
          'enter closed',
          'exit closed',
        ],
      },
      history: [
        { version: 1, from: 'closed', to: 'open', event: 'open', at: 5 },
        { version: 2, from: 'open', to: 'closed', event: 'close', at: 5 },
        { version: 3, from: 'closed', to: 'locked', event: 'lock', at: 5 },
      ],
      version: 3,
    });
    expect(JSON.parse(JSON.stringify(machine))).toEqual(snapshot);

    const json = JSON.stringify(snapshot);
    const restored = definition.restore(
      JSON.parse(json) as MachineSnapshot<DoorState, keyof DoorEvents, DoorContext>,
      {
        clock,
      },
    );
    expect(restored.state).toBe('locked');
    expect(restored.version).toBe(3);
    expect(restored.context).toEqual(snapshot.context);
    expect(restored.history).toEqual(snapshot.history);
    expect(restored.snapshot()).toEqual(snapshot);

    // …and carries on from there, with guards seeing the restored context.
    clock.set(9);
    await expect(restored.send('unlock', { code: '0000' })).rejects.toBeInstanceOf(
      TransitionGuardRejectedError,
    );
    const record = await restored.send('unlock', { code: '4321' });
    expect(record).toEqual({ version: 4, from: 'locked', to: 'closed', event: 'unlock', at: 9 });
  });

  it('restore() runs no action', async () => {
    const definition = door();
    const machine = definition.create();
    await machine.send('open');
    const restored = definition.restore(machine.snapshot());
    expect(restored.context.log).toEqual(['exit closed', 'open action', 'enter open']);
  });

  it('a snapshot is a copy: later transitions do not change it, and it does not alias the machine', async () => {
    const machine = door().create();
    const snapshot = machine.snapshot();
    await machine.send('open');
    expect(snapshot.state).toBe('closed');
    expect(snapshot.context.log).toEqual([]);
    const restored = door().restore(snapshot);
    (snapshot.context as DoorContext).log.push('tampered');
    expect(restored.context.log).toEqual([]);
  });

  it('restore() cuts the history to the limit', async () => {
    const machine = door().create();
    for (let i = 0; i < 6; i++) await machine.send(i % 2 === 0 ? 'open' : 'close');
    const restored = door({ historyLimit: 2 }).restore(machine.snapshot());
    expect(restored.history.map((h) => h.version)).toEqual([5, 6]);
    expect(door().restore(machine.snapshot(), { historyLimit: 3 }).history).toHaveLength(3);
  });

  it('restore() rejects a snapshot of another machine, an unknown state, a bad version or history — listing all', () => {
    const bad = {
      machine: 'window',
      state: 'ajar',
      context: { code: null, opens: 0, log: [] },
      history: [{ version: 1, from: 'closed', to: 'nowhere', event: 'open', at: 1 }, 'x'],
      version: -1,
    };
    const error = (() => {
      try {
        door().restore(bad as unknown as MachineSnapshot<DoorState, keyof DoorEvents, DoorContext>);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).details).toEqual({
      machine: 'door',
      problems: [
        'it belongs to machine "window", not "door"',
        'its state "ajar" is not a state of door',
        'its version -1 is not an integer >= 0',
        'history[0] is not a transition record',
        'history[1] is not a transition record',
      ],
    });
    expect(() =>
      door().restore(null as unknown as MachineSnapshot<DoorState, keyof DoorEvents, DoorContext>),
    ).toThrow(/not an object/);
  });
});

describe('Machine: context copies', () => {
  it('uses the cloneContext option for drafts and snapshots', async () => {
    const clones: number[] = [];
    const definition = defineMachine<'a' | 'b', { go: undefined }, { n: number }>({
      id: 'clone',
      initial: 'a',
      context: { n: 1 },
      cloneContext: (context) => {
        clones.push(context.n);
        return { ...context };
      },
      states: { a: { on: { go: { target: 'b' } } }, b: {} },
    });
    const machine = definition.create();
    await machine.send('go');
    machine.snapshot();
    expect(clones.length).toBeGreaterThanOrEqual(3); // initial copy, draft, snapshot
  });

  it('a machine without context has undefined as its context', async () => {
    const definition = defineMachine<'a' | 'b', { go: undefined }>({
      id: 'none',
      initial: 'a',
      states: { a: { on: { go: { target: 'b' } } }, b: {} },
    });
    const machine = definition.create();
    await machine.send('go');
    expect(machine.context).toBeUndefined();
    expect(JSON.parse(JSON.stringify(machine.snapshot()))).toEqual({
      machine: 'none',
      state: 'b',
      history: [expect.objectContaining({ from: 'a', to: 'b' })],
      version: 1,
    });
  });
});
