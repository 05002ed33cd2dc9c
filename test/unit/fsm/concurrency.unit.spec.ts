import { InvalidTransitionError, defineMachine, type Machine, type SimpleEvents } from 'potter';

/** Resolves after `ms` real milliseconds. */
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type CounterState = 'idle' | 'busy';
type CounterEvents = { work: { id: number; ms: number }; rest: undefined };

/** A machine whose work action is slow and records when each event starts and ends. */
function counter(trace: string[]) {
  return defineMachine<CounterState, CounterEvents, { done: number[] }>({
    id: 'counter',
    initial: 'idle',
    context: () => ({ done: [] }),
    states: {
      idle: {
        on: {
          work: {
            target: 'busy',
            action: async ({ context, event }) => {
              trace.push(`start ${event.payload.id}`);
              await delay(event.payload.ms);
              context.done.push(event.payload.id);
              trace.push(`end ${event.payload.id}`);
            },
          },
        },
      },
      busy: {
        on: {
          work: {
            action: async ({ context, event }) => {
              trace.push(`start ${event.payload.id}`);
              await delay(event.payload.ms);
              context.done.push(event.payload.id);
              trace.push(`end ${event.payload.id}`);
            },
          },
          rest: { target: 'idle' },
        },
      },
    },
  });
}

describe('Machine: concurrent sends', () => {
  it('processes concurrent sends one at a time, in call order, even when earlier ones are slower', async () => {
    const trace: string[] = [];
    const machine = counter(trace).create();
    const results = await Promise.all([
      machine.send('work', { id: 1, ms: 30 }),
      machine.send('work', { id: 2, ms: 1 }),
      machine.send('work', { id: 3, ms: 10 }),
    ]);
    expect(trace).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    expect(machine.context.done).toEqual([1, 2, 3]);
    expect(results.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(results.map((r) => `${r.from}->${r.to}`)).toEqual(['idle->busy', 'busy->busy', 'busy->busy']);
  });

  it('a failing send does not stop the ones queued behind it; each settles with its own outcome', async () => {
    const trace: string[] = [];
    const machine = counter(trace).create();
    const outcomes = await Promise.allSettled([
      machine.send('rest'), // invalid in idle
      machine.send('work', { id: 1, ms: 1 }),
      machine.send('rest'),
      machine.send('rest'), // invalid again: idle
      machine.send('work', { id: 2, ms: 1 }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      'rejected',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((outcomes[0] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidTransitionError);
    expect(machine.state).toBe('busy');
    expect(machine.version).toBe(3);
  });

  it('each guard sees the state left by the events before it (state is never read ahead of the queue)', async () => {
    const definition = defineMachine<'a' | 'b' | 'c', SimpleEvents<'next'>>({
      id: 'chain',
      initial: 'a',
      states: {
        a: { on: { next: { target: 'b', action: () => delay(5) } } },
        b: { on: { next: { target: 'c', action: () => delay(1) } } },
        c: { final: true },
      },
    });
    const machine = definition.create();
    const [first, second, third] = await Promise.allSettled([
      machine.send('next'),
      machine.send('next'),
      machine.send('next'),
    ]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { from: 'a', to: 'b' } });
    expect(second).toMatchObject({ status: 'fulfilled', value: { from: 'b', to: 'c' } });
    expect(third).toMatchObject({ status: 'rejected', reason: { details: { state: 'c', event: 'next' } } });
  });

  it('busy and settled() tell when the queue has drained', async () => {
    const trace: string[] = [];
    const machine = counter(trace).create();
    expect(machine.busy).toBe(false);
    await machine.settled(); // resolves at once when idle
    void machine.send('work', { id: 1, ms: 5 });
    void machine.send('work', { id: 2, ms: 5 });
    expect(machine.busy).toBe(true);
    await machine.settled();
    expect(machine.busy).toBe(false);
    expect(machine.context.done).toEqual([1, 2]);
  });

  it('snapshot() during a transition shows the last committed state', async () => {
    const trace: string[] = [];
    const machine = counter(trace).create();
    const pending = machine.send('work', { id: 1, ms: 10 });
    await delay(2);
    expect(trace).toEqual(['start 1']);
    expect(machine.snapshot()).toMatchObject({ state: 'idle', version: 0, context: { done: [] } });
    await pending;
    expect(machine.snapshot()).toMatchObject({ state: 'busy', version: 1, context: { done: [1] } });
  });
});

describe('Machine: re-entrancy (an action sends an event)', () => {
  type State = 'start' | 'middle' | 'end';
  type Events = SimpleEvents<'go' | 'finish'> & { other: { n: number } };

  it('machine.send() from an action is queued and processed after the current transition — no deadlock', async () => {
    const order: string[] = [];
    let inner: Promise<unknown> | undefined;
    // Typed with its own reference: the action sends on the machine that runs it.
    // eslint-disable-next-line prefer-const
    let machine: Machine<State, Events, undefined>;
    const definition = defineMachine<State, Events>({
      id: 'reentrant',
      initial: 'start',
      states: {
        start: {
          on: {
            go: {
              target: 'middle',
              action: () => {
                order.push('go: action begins');
                inner = machine.send('finish'); // not awaited here: it runs after this transition
                order.push('go: action ends');
              },
            },
          },
          onExit: () => void order.push('exit start'),
        },
        middle: {
          onEnter: () => void order.push('enter middle'),
          on: { finish: { target: 'end', action: () => void order.push('finish: action') } },
        },
        end: { final: true },
      },
    });
    machine = definition.create();
    const outer = await machine.send('go');
    expect(outer).toMatchObject({ from: 'start', to: 'middle' });
    await expect(inner).resolves.toMatchObject({ from: 'middle', to: 'end', version: 2 });
    expect(order).toEqual([
      'exit start',
      'go: action begins',
      'go: action ends',
      'enter middle',
      'finish: action',
    ]);
    expect(machine.state).toBe('end');
  });

  it('machine.send() from an action goes behind sends already queued (FIFO)', async () => {
    const seen: string[] = [];
    const definition = defineMachine<'s', Events, undefined>({
      id: 'fifo',
      initial: 's',
      states: {
        s: {
          on: {
            go: {
              action: () => {
                seen.push('go');
                void machine.send('other', { n: 2 });
              },
            },
            other: { action: ({ event }) => void seen.push(`other ${event.payload.n}`) },
            finish: { action: () => void seen.push('finish') },
          },
        },
      },
    });
    const machine = definition.create();
    await Promise.all([machine.send('go'), machine.send('other', { n: 1 }), machine.send('finish')]);
    await machine.settled();
    expect(seen).toEqual(['go', 'other 1', 'finish', 'other 2']);
  });

  it('raise() runs the event right after the current transition, before queued sends; send settles after both', async () => {
    const seen: string[] = [];
    const definition = defineMachine<State, Events>({
      id: 'raise',
      initial: 'start',
      states: {
        start: {
          on: {
            go: { target: 'middle', action: ({ raise }) => raise('finish') },
            other: { action: () => void seen.push('other in start') },
          },
        },
        middle: {
          on: {
            finish: { target: 'end', action: () => void seen.push('finish') },
            other: { action: () => void seen.push('other in middle') },
          },
        },
        end: { on: { other: { action: () => void seen.push('other in end') } } },
      },
    });
    const machine = definition.create();
    const [go] = await Promise.all([machine.send('go'), machine.send('other', { n: 1 })]);
    expect(go).toMatchObject({ from: 'start', to: 'middle', version: 1 });
    expect(seen).toEqual(['finish', 'other in end']);
    expect(machine.history.map((h) => h.event)).toEqual(['go', 'finish', 'other']);
  });

  it('events raised by a failing transition are dropped', async () => {
    const seen: string[] = [];
    const definition = defineMachine<State, Events>({
      id: 'raise-fail',
      initial: 'start',
      states: {
        start: {
          on: {
            go: {
              target: 'middle',
              action: ({ raise }) => {
                raise('finish');
                throw new Error('action failed');
              },
            },
            finish: { action: () => void seen.push('finish ran') },
          },
        },
        middle: { on: { finish: { target: 'end' } } },
        end: {},
      },
    });
    const machine = definition.create();
    await expect(machine.send('go')).rejects.toThrow('action failed');
    await machine.settled();
    expect(seen).toEqual([]);
    expect(machine.state).toBe('start');
    expect(machine.version).toBe(0);
  });

  it('a raised event that fails rejects the send that caused it; the committed transition stays', async () => {
    const definition = defineMachine<State, Events>({
      id: 'raise-invalid',
      initial: 'start',
      states: {
        start: { on: { go: { target: 'middle', action: ({ raise }) => raise('go') } } },
        middle: { on: { finish: { target: 'end' } } },
        end: {},
      },
    });
    const machine = definition.create();
    const error = await machine.send('go').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect((error as InvalidTransitionError).details).toMatchObject({ state: 'middle', event: 'go' });
    expect(machine.state).toBe('middle');
    expect(machine.version).toBe(1);
    await machine.send('finish'); // and the machine carries on
    expect(machine.state).toBe('end');
  });

  it('raised events chain (an action of a raised event may raise again), in order', async () => {
    type Step = 's0' | 's1' | 's2' | 's3';
    const definition = defineMachine<Step, SimpleEvents<'next'>>({
      id: 'chain-raise',
      initial: 's0',
      states: {
        s0: { on: { next: { target: 's1', action: ({ raise }) => raise('next') } } },
        s1: { on: { next: { target: 's2', action: ({ raise }) => raise('next') } } },
        s2: { on: { next: { target: 's3' } } },
        s3: { final: true },
      },
    });
    const machine = definition.create();
    await machine.send('next');
    expect(machine.state).toBe('s3');
    expect(machine.history.map((h) => `${h.from}->${h.to}`)).toEqual(['s0->s1', 's1->s2', 's2->s3']);
  });

  it('raise() after the transition ended throws (use send)', async () => {
    let late: (() => void) | undefined;
    const definition = defineMachine<'a' | 'b', SimpleEvents<'go'>>({
      id: 'late',
      initial: 'a',
      states: {
        a: { on: { go: { target: 'b', action: ({ raise }) => void (late = () => raise('go')) } } },
        b: {},
      },
    });
    await definition.create().send('go');
    expect(late).toThrow(/after the transition/);
  });
});
