import fc from 'fast-check';
import {
  Command,
  CommandBus,
  CommandHandler,
  Event,
  EventBus,
  EventHandler,
  Injectable,
  Module,
  currentMessageContext,
  type MessageContext,
} from 'potter';
import { createTestApp } from 'potter/testing';

interface Seen {
  type: string;
  id: string;
  correlationId: string;
  causationId: string | undefined;
  label: string;
}
const seen: Seen[] = [];
const record = (c: MessageContext, label: string): void => {
  seen.push({ type: c.type, id: c.id, correlationId: c.correlationId, causationId: c.causationId, label });
};

@Command()
class Outer {
  constructor(readonly fanOut: number) {}
}
@Command()
class Inner {
  constructor(readonly label: string) {}
}
@Event()
class InnerDone {
  constructor(readonly label: string) {}
}
/** A tree of nested dispatches: each node dispatches its children, in parallel or in sequence. */
@Command()
class Node {
  constructor(
    readonly path: string,
    readonly children: Node[],
    readonly parallel: boolean,
  ) {}
}

@Injectable()
class Handlers {
  constructor(
    private readonly commands: CommandBus,
    private readonly events: EventBus,
  ) {}

  @CommandHandler(Outer)
  async outer(cmd: Outer, c: MessageContext): Promise<void> {
    record(c, 'outer');
    await new Promise((r) => setTimeout(r, 1));
    await Promise.all(
      Array.from({ length: cmd.fanOut }, (_, i) => this.commands.execute(new Inner(`inner-${i}`))),
    );
    setTimeout(() => void 0, 0);
  }

  @CommandHandler(Inner)
  async inner(cmd: Inner, c: MessageContext): Promise<void> {
    await Promise.resolve();
    record(c, cmd.label);
    expect(currentMessageContext()).toBe(c);
    await this.events.publish(new InnerDone(cmd.label));
  }

  @EventHandler(InnerDone)
  async done(e: InnerDone, c: MessageContext): Promise<void> {
    await new Promise((r) => setImmediate(r));
    record(c, `done-${e.label}`);
  }

  @CommandHandler(Node)
  async node(cmd: Node, c: MessageContext): Promise<void> {
    record(c, cmd.path);
    if (cmd.parallel) await Promise.all(cmd.children.map((child) => this.commands.execute(child)));
    else for (const child of cmd.children) await this.commands.execute(child);
  }
}

@Module({ handlers: [Handlers] })
class App {}

beforeEach(() => (seen.length = 0));

describe('context propagation', () => {
  it('carries correlation and causation ids through nested dispatches, awaits and Promise.all', async () => {
    const app = await createTestApp(App);
    await app.commandBus.execute(new Outer(3));
    const outer = seen.find((s) => s.label === 'outer')!;
    expect(outer.causationId).toBeUndefined();
    expect(outer.correlationId).toBe(outer.id);
    const inners = seen.filter((s) => s.label.startsWith('inner'));
    expect(inners).toHaveLength(3);
    for (const inner of inners) {
      expect(inner.correlationId).toBe(outer.id);
      expect(inner.causationId).toBe(outer.id);
      const done = seen.find((s) => s.label === `done-${inner.label}`)!;
      expect(done.correlationId).toBe(outer.id);
      expect(done.causationId).toBe(inner.id);
    }
    expect(new Set(seen.map((s) => s.id)).size).toBe(seen.length);
    await app.stop();
  });

  it('uses a caller-supplied correlation id and keeps independent dispatches apart', async () => {
    const app = await createTestApp(App);
    await Promise.all([
      app.commandBus.execute(new Inner('a'), {
        metadata: { correlationId: 'req-1', headers: { user: 'u1' } },
      }),
      app.commandBus.execute(new Inner('b'), { metadata: { correlationId: 'req-2' } }),
    ]);
    const byLabel = Object.fromEntries(seen.map((s) => [s.label, s]));
    expect(byLabel['a']!.correlationId).toBe('req-1');
    expect(byLabel['done-a']!.correlationId).toBe('req-1');
    expect(byLabel['b']!.correlationId).toBe('req-2');
    expect(byLabel['done-b']!.correlationId).toBe('req-2');
    expect(currentMessageContext()).toBeUndefined();
    await app.stop();
  });

  it('holds for any tree of nested, parallel or sequential dispatches (property)', async () => {
    const app = await createTestApp(App);
    type Tree = { children: Tree[]; parallel: boolean };
    const treeOfDepth = (depth: number): fc.Arbitrary<Tree> =>
      depth === 0
        ? fc.constant({ children: [], parallel: false })
        : fc.record({ parallel: fc.boolean(), children: fc.array(treeOfDepth(depth - 1), { maxLength: 3 }) });
    const tree = treeOfDepth(4);
    const toNode = (t: Tree, path: string): Node =>
      new Node(
        path,
        t.children.map((c, i) => toNode(c, `${path}.${i}`)),
        t.parallel,
      );
    await fc.assert(
      fc.asyncProperty(tree, async (t) => {
        seen.length = 0;
        await app.commandBus.execute(toNode(t, 'r'));
        const byPath = new Map(seen.map((s) => [s.label, s]));
        const root = byPath.get('r')!;
        for (const s of seen) {
          expect(s.correlationId).toBe(root.id);
          if (s.label === 'r') expect(s.causationId).toBeUndefined();
          else expect(s.causationId).toBe(byPath.get(s.label.slice(0, s.label.lastIndexOf('.')))!.id);
        }
      }),
      { numRuns: 60 },
    );
    await app.stop();
  });

  it('records observed message flow in the topology, as JSON and Mermaid', async () => {
    const app = await createTestApp(App);
    await app.commandBus.execute(new Outer(1));
    const topology = app.topology();
    const json = JSON.parse(JSON.stringify(topology)) as {
      nodes: { id: string }[];
      edges: { from: string; to: string; relation: string; source: string }[];
    };
    expect(json.edges).toEqual(
      expect.arrayContaining([
        { from: 'command:Outer', to: 'handler:Handlers.outer', relation: 'handled-by', source: 'declared' },
        { from: 'handler:Handlers.outer', to: 'command:Inner', relation: 'sends', source: 'observed' },
        { from: 'handler:Handlers.inner', to: 'event:InnerDone', relation: 'emits', source: 'observed' },
        { from: 'event:InnerDone', to: 'handler:Handlers.done', relation: 'handled-by', source: 'declared' },
      ]),
    );
    const mermaid = topology.toMermaid();
    expect(mermaid.startsWith('flowchart LR')).toBe(true);
    expect(mermaid).toContain('{{"InnerDone"}}:::event');
    expect(mermaid).toMatch(/-\.->\|sends\|/);
    await app.stop();
  });
});
