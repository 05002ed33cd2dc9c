import fc from 'fast-check';
import {
  InvalidTransitionError,
  TransitionGuardRejectedError,
  defineMachine,
  type MachineSnapshot,
} from 'potter';

/**
 * A turnstile: coins add credit (a coin of 0 is refused by a guard), a push with credit unlocks it
 * and spends one credit, `jam` has an action that always throws, `kick` breaks it for good.
 */
type State = 'locked' | 'unlocked' | 'broken';
type Events = { coin: { value: number }; push: undefined; jam: undefined; kick: undefined; reset: undefined };
interface Context {
  credit: number;
  passes: number;
}

const turnstile = defineMachine<State, Events, Context>({
  id: 'turnstile',
  initial: 'locked',
  context: () => ({ credit: 0, passes: 0 }),
  historyLimit: 5,
  states: {
    locked: {
      on: {
        coin: {
          guard: { name: 'positive', check: async ({ event }) => event.payload.value > 0 },
          action: ({ context, event }) => {
            context.credit += event.payload.value;
          },
        },
        push: {
          target: 'unlocked',
          guard: { name: 'hasCredit', check: ({ context }) => context.credit > 0 },
          action: ({ context }) => {
            context.credit -= 1;
          },
        },
        jam: {
          target: 'unlocked',
          action: () => {
            throw new Error('jammed');
          },
        },
        kick: { target: 'broken' },
      },
    },
    unlocked: {
      onExit: async ({ context }) => {
        await Promise.resolve();
        context.passes += 1;
      },
      on: {
        push: { target: 'locked' },
        reset: { target: 'locked', action: ({ context }) => ({ ...context, credit: 0 }) },
        jam: { target: 'locked', action: () => Promise.reject(new Error('jammed')) },
        kick: { target: 'broken' },
      },
    },
    broken: { final: true },
  },
});

type Command = { [K in keyof Events]: { type: K; payload: Events[K] } }[keyof Events];
type Outcome = 'ok' | 'invalid' | 'guard' | 'error';
interface Model {
  state: State;
  credit: number;
  passes: number;
  version: number;
}

/** The reference model: what each command should do, written as plainly as possible. */
function step(model: Model, command: Command): { model: Model; outcome: Outcome } {
  const next = (changes: Partial<Model>): { model: Model; outcome: Outcome } => ({
    model: { ...model, ...changes, version: model.version + 1 },
    outcome: 'ok',
  });
  const fail = (outcome: Outcome) => ({ model, outcome });
  const leavingUnlocked = { passes: model.passes + 1 };
  switch (model.state) {
    case 'broken':
      return fail('invalid');
    case 'locked':
      switch (command.type) {
        case 'coin':
          return command.payload.value > 0
            ? next({ credit: model.credit + command.payload.value })
            : fail('guard');
        case 'push':
          return model.credit > 0 ? next({ state: 'unlocked', credit: model.credit - 1 }) : fail('guard');
        case 'jam':
          return fail('error');
        case 'kick':
          return next({ state: 'broken' });
        default:
          return fail('invalid');
      }
    case 'unlocked':
      switch (command.type) {
        case 'push':
          return next({ state: 'locked', ...leavingUnlocked });
        case 'reset':
          return next({ state: 'locked', credit: 0, ...leavingUnlocked });
        case 'jam':
          return fail('error');
        case 'kick':
          return next({ state: 'broken', ...leavingUnlocked });
        default:
          return fail('invalid');
      }
  }
}

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 0, max: 3 }).map((value): Command => ({ type: 'coin', payload: { value } })),
  },
  { weight: 4, arbitrary: fc.constant<Command>({ type: 'push', payload: undefined }) },
  { weight: 1, arbitrary: fc.constant<Command>({ type: 'jam', payload: undefined }) },
  { weight: 1, arbitrary: fc.constant<Command>({ type: 'kick', payload: undefined }) },
  { weight: 2, arbitrary: fc.constant<Command>({ type: 'reset', payload: undefined }) },
);

function classify(result: PromiseSettledResult<unknown>): Outcome {
  if (result.status === 'fulfilled') return 'ok';
  if (result.reason instanceof InvalidTransitionError) return 'invalid';
  if (result.reason instanceof TransitionGuardRejectedError) return 'guard';
  return 'error';
}

/** Sends a command through the machine's typed API. */
function sendCommand(machine: ReturnType<typeof turnstile.create>, command: Command): Promise<unknown> {
  switch (command.type) {
    case 'coin':
      return machine.send('coin', command.payload);
    default:
      return machine.send(command.type);
  }
}

describe('Machine against a reference model (fast-check)', () => {
  it('after any sequence of events — sent concurrently — state, context, version and each outcome match the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 40 }), async (commands) => {
        const machine = turnstile.create();
        // All sends issued at once: the queue must process them in call order.
        const settled = await Promise.allSettled(commands.map((command) => sendCommand(machine, command)));
        let model: Model = { state: 'locked', credit: 0, passes: 0, version: 0 };
        const expected: Outcome[] = [];
        for (const command of commands) {
          const result = step(model, command);
          model = result.model;
          expected.push(result.outcome);
        }
        expect(settled.map(classify)).toEqual(expected);
        expect(machine.state).toBe(model.state);
        expect(machine.context).toEqual({ credit: model.credit, passes: model.passes });
        expect(machine.version).toBe(model.version);
        expect(machine.done).toBe(model.state === 'broken');
        expect(machine.history).toHaveLength(Math.min(5, model.version));
      }),
      { numRuns: 200 },
    );
  });

  it('stopping at any point, saving through JSON and restoring gives the same end state as running straight on', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 30 }), fc.nat(30), async (commands, cut) => {
        const straight = turnstile.create();
        for (const command of commands) await sendCommand(straight, command).catch(() => undefined);

        let machine = turnstile.create();
        for (const [index, command] of commands.entries()) {
          if (index === cut) {
            const json = JSON.stringify(machine.snapshot());
            machine = turnstile.restore(JSON.parse(json) as MachineSnapshot<State, keyof Events, Context>);
          }
          await sendCommand(machine, command).catch(() => undefined);
        }
        expect(machine.snapshot()).toEqual({ ...straight.snapshot(), history: expect.any(Array) });
        expect(machine.history.map(({ version, from, to, event }) => ({ version, from, to, event }))).toEqual(
          straight.history.map(({ version, from, to, event }) => ({ version, from, to, event })),
        );
      }),
      { numRuns: 100 },
    );
  });
});
