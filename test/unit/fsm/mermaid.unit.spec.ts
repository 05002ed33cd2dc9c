import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineMachine, type SimpleEvents } from 'potter';
import { ManualClock } from 'potter/testing';
import * as snippets from '../../../docs/snippets/fsm';

describe('toMermaid()', () => {
  it('draws a stateDiagram-v2: [*] --> initial, one arrow per transition, guards in brackets, final --> [*]', () => {
    const definition = defineMachine<
      'idle' | 'running' | 'done' | 'failed',
      SimpleEvents<'start' | 'finish' | 'fail' | 'tick'>
    >({
      id: 'job',
      initial: 'idle',
      states: {
        idle: { on: { start: { target: 'running', guard: { name: 'hasWorker', check: () => true } } } },
        running: {
          on: {
            finish: [
              {
                target: 'done',
                guard: function allGreen() {
                  return true;
                },
              },
              { target: 'failed' },
            ],
            tick: {}, // internal
            fail: { target: 'failed' },
          },
        },
        done: { final: true },
        failed: { final: true },
      },
    });
    expect(definition.toMermaid()).toBe(
      [
        'stateDiagram-v2',
        '    [*] --> idle',
        '    idle --> running : start [hasWorker]',
        '    running --> done : finish [allGreen]',
        '    running --> failed : finish',
        '    running --> running : tick',
        '    running --> failed : fail',
        '    done --> [*]',
        '    failed --> [*]',
      ].join('\n'),
    );
  });

  it('aliases state names that are not plain identifiers', () => {
    const definition = defineMachine<'step-1' | 'all done', SimpleEvents<'next'>>({
      id: 'aliases',
      initial: 'step-1',
      states: { 'step-1': { on: { next: { target: 'all done' } } }, 'all done': { final: true } },
    });
    expect(definition.toMermaid()).toBe(
      [
        'stateDiagram-v2',
        '    state "step-1" as s0',
        '    state "all done" as s1',
        '    [*] --> s0',
        '    s0 --> s1 : next',
        '    s1 --> [*]',
      ].join('\n'),
    );
  });

  it('labels an inline guard arrow function by its property name', () => {
    const definition = defineMachine<'a' | 'b', SimpleEvents<'go'>>({
      id: 'inline',
      initial: 'a',
      states: { a: { on: { go: { target: 'b', guard: () => true } } }, b: {} },
    });
    expect(definition.toMermaid()).toContain('a --> b : go [guard]');
  });
});

describe('docs/fsm.md', () => {
  const markdown = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'fsm.md'), 'utf8');
  /** Each diagram of the doc, under its `<!-- toMermaid: name -->` marker. */
  const diagrams = [...markdown.matchAll(/<!-- toMermaid: (\w+) -->\n+```mermaid\n([\s\S]*?)\n```/g)].map(
    (match) => ({ name: match[1]!, diagram: match[2]! }),
  );
  const definitions: Record<string, { toMermaid(): string }> = {
    orderMachine: snippets.orderMachine,
    review: snippets.review,
    approval: snippets.approval,
  };

  it('has diagrams', () => {
    expect(diagrams.map((d) => d.name)).toEqual(expect.arrayContaining(['orderMachine']));
  });

  it.each(diagrams.map((d) => [d.name, d.diagram] as const))(
    'the %s diagram is exactly what toMermaid() draws for docs/snippets/fsm.ts',
    (name, diagram) => {
      const definition = definitions[name];
      if (definition === undefined)
        throw new Error(`docs/fsm.md draws ${name}, which docs/snippets/fsm.ts does not export`);
      expect(diagram).toBe(definition.toMermaid());
    },
  );
});

describe('docs/snippets/fsm.ts does what docs/fsm.md says', () => {
  let logged: unknown[][];
  beforeEach(() => {
    logged = [];
    jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logged.push(args));
  });
  afterEach(() => jest.restoreAllMocks());

  it('runOrder: pays in two parts, ships, refuses a late payment, delivers', async () => {
    const snapshot = await snippets.runOrder(new ManualClock(42));
    expect(logged).toEqual([
      [{ machine: 'order', state: 'shipped', event: 'pay', allowed: ['deliver'] }],
      ['delivered', true],
    ]);
    expect(snapshot).toMatchObject({
      state: 'delivered',
      version: 4,
      context: { paid: 100, carrier: 'UPS', log: ['leaving pending on pay', 'receipt sent'] },
    });
    expect(snapshot.history.map((h) => `${h.from}->${h.to}@${h.at}`)).toEqual([
      'pending->pending@42',
      'pending->paid@42',
      'paid->shipped@42',
      'shipped->delivered@42',
    ]);
  });

  it('refuse: the guard refuses and names itself; the state stays', async () => {
    await snippets.refuse();
    expect(logged).toEqual([[['underLimit']], ['draft']]);
  });

  it('saveAndRestore: the restored machine carries on from the snapshot', async () => {
    await snippets.saveAndRestore();
    expect(logged).toEqual([['paid', 1, 100]]);
  });

  it('review: raise() moves on from checking within the same send', async () => {
    const high = snippets.review.create();
    await high.send('submit', { score: 7 });
    expect(high.state).toBe('accepted');
    const low = snippets.review.create();
    await low.send('submit', { score: 2 });
    expect(low.state).toBe('rejected');
  });
});
