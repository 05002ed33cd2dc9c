import { ConfigurationError } from 'potter';
import { defineSaga, type StepArgs } from '../../../src/saga';

interface Ctx {
  orderId: string;
  reserved?: boolean;
}

const noop = (): void => undefined;

function problemsOf(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as ConfigurationError).details['problems'] as string[];
  }
  throw new Error('build() did not throw');
}

describe('defineSaga', () => {
  it('builds an immutable definition listing every step, parallel branches included', () => {
    const base = defineSaga<Ctx>('order').step('reserve', { execute: noop });
    const definition = base
      .parallel('checks', [
        { name: 'fraud', execute: noop },
        { name: 'credit', execute: noop },
      ])
      .when((ctx) => ctx.reserved === true, 'ship', { execute: noop })
      .timeout(5_000)
      .build();
    expect(definition.name).toBe('order');
    expect(definition.stepNames).toEqual(['reserve', 'fraud', 'credit', 'ship']);
    expect(definition.nodes.map((n) => n.kind)).toEqual(['step', 'parallel', 'step']);
    expect(definition.options.timeoutMs).toBe(5_000);
    expect(Object.isFrozen(definition)).toBe(true);
    // Builders are immutable: the base still has one step.
    expect(base.build().stepNames).toEqual(['reserve']);
  });

  it('rejects an empty saga', () => {
    expect(problemsOf(() => defineSaga('empty').build())).toEqual(['the saga has no step']);
  });

  it('lists every problem at once', () => {
    const problems = problemsOf(() =>
      defineSaga<Ctx>('')
        .step('a', { execute: noop })
        .step('a', { execute: noop })
        .parallel('p', [
          { name: 'a', execute: noop },
          { name: 'b', execute: 'nope' as unknown as () => void },
        ])
        .parallel('empty', [])
        .step('c', { execute: noop, retry: { maxAttempts: 0 }, timeoutMs: -1 })
        .step('d', { execute: noop, compensate: 42 as unknown as () => void })
        .timeout(0)
        .build(),
    );
    expect(problems).toEqual([
      'the saga name must be a non-empty string',
      'saga: timeoutMs must be a positive number (got 0)',
      'duplicate step name "a"',
      'duplicate step name "a"',
      'step "b" (in "p"): execute must be a function',
      'parallel group "empty" has no step',
      'step "c" retry: maxAttempts must be an integer >= 1',
      'step "c": timeoutMs must be a positive number (got -1)',
      'step "d": compensate must be a function',
    ]);
  });

  it('puts the saga name and the problem list in the error', () => {
    expect(() =>
      defineSaga('order').step('x', { execute: noop }).step('x', { execute: noop }).build(),
    ).toThrow(/Saga order has 1 problem\(s\):\n {2}- duplicate step name "x"/);
  });

  it('types the context of steps and predicates', () => {
    const execute = ({ context }: StepArgs<Ctx>): void => {
      context.reserved = true;
      // @ts-expect-error unknown property of the context
      context.missing = 1;
    };
    // @ts-expect-error the predicate receives the typed context
    defineSaga<Ctx>('typed').when((ctx) => ctx.nope === 1, 's', { execute });
    expect(defineSaga<Ctx>('typed').step('s', { execute }).build().stepNames).toEqual(['s']);
  });
});
