import { ConfigurationError, defineMachine, type MachineConfig, type SimpleEvents } from 'potter';

/** The problems a definition is rejected with. */
function problemsOf(config: unknown): string[] {
  try {
    defineMachine(config as MachineConfig<string, SimpleEvents<string>, undefined>);
  } catch (error) {
    if (error instanceof ConfigurationError) return error.details['problems'] as string[];
    throw error;
  }
  throw new Error('the definition was accepted');
}

describe('defineMachine: validation at creation', () => {
  it('lists every problem at once in a ConfigurationError', () => {
    const config = {
      id: 'broken',
      initial: 'nowhere',
      states: {
        a: {
          on: {
            go: { target: 'b' },
            jump: { target: 'mars' },
            pick: [{ target: 'a' }, { target: 'b', guard: () => true }],
            bad: [],
          },
        },
        b: { final: true, on: { back: { target: 'a' }, again: { target: 'b' } } },
        c: { on: { x: { target: 'a', guard: 42, action: 'run' } }, onEnter: 'hello' },
      },
    };
    let error: unknown;
    try {
      defineMachine(config as unknown as MachineConfig<string, SimpleEvents<string>, undefined>);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).code).toBe('POTTER_CONFIGURATION_INVALID');
    const problems = [
      'initial state "nowhere" is not a state (states: a, b, c)',
      'state "a", event "jump": unknown target state "mars"',
      'state "a", event "pick", transition 1: has no guard, so the transitions after it can never be taken',
      'state "a", event "bad": an empty list of transitions',
      'state "b" is final but has transitions (back, again)',
      'state "c": onEnter must be a function',
      'state "c", event "x": guard must be a function or { name, check }',
      'state "c", event "x": action must be a function',
    ];
    expect((error as ConfigurationError).details).toEqual({ machine: 'broken', problems });
    expect((error as Error).message).toBe(
      `Machine broken has 8 problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  });

  it('rejects a missing id, missing states and bad options', () => {
    expect(problemsOf({ initial: 'a', states: { a: {} } })).toEqual(['id must be a non-empty string']);
    expect(problemsOf({ id: 'x', initial: 'a' })).toEqual(['states must be an object of state definitions']);
    expect(problemsOf({ id: 'x', initial: 'a', states: {} })).toEqual([
      'states is empty: a machine needs at least one state',
      'initial state "a" is not a state (states: )',
    ]);
    expect(
      problemsOf({ id: 'x', initial: 'a', states: { a: {} }, historyLimit: -3, cloneContext: 1 }),
    ).toEqual([
      'historyLimit must be an integer >= 0 or Infinity, got -3',
      'cloneContext must be a function',
    ]);
    expect(problemsOf({ id: 'x', initial: 'a', states: { a: { on: { go: 'b' } } } })).toEqual([
      'state "a", event "go": the transition is not an object',
    ]);
    expect(problemsOf({ id: 'x', initial: 'a', states: { a: 3 } })).toEqual(['state "a" is not an object']);
    expect(problemsOf({ id: 'x', initial: 'a', states: { a: { on: [] } } })).toEqual([
      'state "a": on must be an object of transitions by event',
    ]);
    expect(
      problemsOf({
        id: 'x',
        initial: 'a',
        states: { a: { on: { go: { guard: { name: '', check: () => true } } } } },
      }),
    ).toEqual(['state "a", event "go": guard must be a function or { name, check }']);
    expect(problemsOf(null)).toEqual(['the definition is not an object']);
  });

  it('accepts a valid definition and describes it', () => {
    const definition = defineMachine<'a' | 'b' | 'c', SimpleEvents<'go' | 'stop' | 'loop'>>({
      id: 'ok',
      initial: 'a',
      states: {
        a: { on: { go: { target: 'b' }, loop: {} } },
        b: { on: { stop: [{ target: 'c', guard: () => true }, { target: 'a' }], go: { target: 'b' } } },
        c: { final: true },
      },
    });
    expect(definition.id).toBe('ok');
    expect(definition.initial).toBe('a');
    expect(definition.states).toEqual(['a', 'b', 'c']);
    expect(definition.events).toEqual(['go', 'loop', 'stop']);
    expect(definition.finalStates).toEqual(['c']);
    expect(definition.eventsFrom('b')).toEqual(['stop', 'go']);
    expect(definition.historyLimit).toBe(100);
  });
});

describe('defineMachine: the compiler rejects invalid definitions and sends', () => {
  type State = 'draft' | 'sent';
  type Events = { send: { to: string }; reset: undefined };

  // These calls are never run: the file compiles only if each marked line is a type error.
  const typeChecks = (): void => {
    defineMachine<State, Events>({
      id: 't',
      initial: 'draft',
      states: {
        // @ts-expect-error — unknown target state
        draft: { on: { send: { target: 'archived' } } },
        sent: {},
      },
    });
    defineMachine<State, Events>({
      id: 't',
      initial: 'draft',
      states: {
        // @ts-expect-error — unknown event in `on`
        draft: { on: { publish: { target: 'sent' } } },
        sent: {},
      },
    });
    defineMachine<State, Events>({
      id: 't',
      // @ts-expect-error — initial is not a state
      initial: 'archived',
      states: { draft: {}, sent: {} },
    });
    // @ts-expect-error — a state is missing
    defineMachine<State, Events>({ id: 't', initial: 'draft', states: { draft: {} } });
    defineMachine<State, Events>({
      id: 't',
      initial: 'draft',
      states: {
        draft: {
          on: {
            send: {
              target: 'sent',
              // @ts-expect-error — the payload of `send` has no `subject`
              guard: ({ event }) => event.payload.subject === 'x',
            },
          },
        },
        sent: {},
      },
    });
    // @ts-expect-error — a context is required when the context type does not admit undefined
    defineMachine<State, Events, { n: number }>({
      id: 't',
      initial: 'draft',
      states: { draft: {}, sent: {} },
    })
      .create()
      .context.n.toFixed();

    const machine = defineMachine<State, Events>({
      id: 't',
      initial: 'draft',
      states: { draft: {}, sent: {} },
    }).create();
    // @ts-expect-error — unknown event
    void machine.send('publish');
    // @ts-expect-error — missing payload
    void machine.send('send');
    // @ts-expect-error — wrong payload
    void machine.send('send', { to: 1 });
    void machine.send('reset'); // no payload needed
    void machine.send('send', { to: 'a@b.c' });
    const state: State = machine.state;
    void state;
  };

  it('compiles (the checks are in the type checker)', () => {
    expect(typeof typeChecks).toBe('function');
  });
});
