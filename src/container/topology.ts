import type { MessageKind } from '../core';

/** A node of the message-flow graph. */
export interface TopologyNode {
  id: string;
  kind: MessageKind | 'handler';
  label: string;
}

/** An edge: a message handled by a handler, or a handler emitting/sending a message. */
export interface TopologyEdge {
  from: string;
  to: string;
  relation: 'handled-by' | 'emits' | 'sends';
  /** `declared` from decorators, `observed` while the app ran. */
  source: 'declared' | 'observed';
}

/**
 * How an application is wired: commands, queries and events, their handlers, and what each handler
 * emits or sends. Serialises to JSON; {@link AppTopology.toMermaid} draws it.
 */
export class AppTopology {
  readonly nodes: TopologyNode[] = [];
  readonly edges: TopologyEdge[] = [];
  readonly #ids = new Set<string>();
  readonly #edgeKeys = new Set<string>();

  /** Adds a node once; returns its id. */
  node(kind: TopologyNode['kind'], label: string): string {
    const id = `${kind}:${label}`;
    if (!this.#ids.has(id)) {
      this.#ids.add(id);
      this.nodes.push({ id, kind, label });
    }
    return id;
  }

  /** Adds an edge once (a declared edge wins over the same observed one). */
  edge(from: string, to: string, relation: TopologyEdge['relation'], source: TopologyEdge['source']): void {
    const key = `${from}|${to}|${relation}`;
    if (this.#edgeKeys.has(key)) return;
    this.#edgeKeys.add(key);
    this.edges.push({ from, to, relation, source });
  }

  /** Plain JSON form. */
  toJSON(): { nodes: TopologyNode[]; edges: TopologyEdge[] } {
    return { nodes: this.nodes, edges: this.edges };
  }

  /** A Mermaid flowchart: commands as rectangles, queries as rounded boxes, events as hexagons. */
  toMermaid(): string {
    const ids = new Map(this.nodes.map((n, i) => [n.id, `n${i}`]));
    const shape = (node: TopologyNode): string => {
      const label = `"${node.label.replace(/"/g, '#quot;')}"`;
      switch (node.kind) {
        case 'command':
          return `[${label}]`;
        case 'query':
          return `(${label})`;
        case 'event':
          return `{{${label}}}`;
        case 'handler':
          return `[[${label}]]`;
      }
    };
    const lines = ['flowchart LR'];
    for (const node of this.nodes) lines.push(`  ${ids.get(node.id)}${shape(node)}:::${node.kind}`);
    for (const edge of this.edges) {
      const arrow = edge.source === 'observed' ? '-.->' : '-->';
      const label = edge.relation === 'handled-by' ? '' : `|${edge.relation}|`;
      lines.push(`  ${ids.get(edge.from)} ${arrow}${label} ${ids.get(edge.to)}`);
    }
    lines.push(
      '  classDef command fill:#dbeafe,stroke:#1d4ed8',
      '  classDef query fill:#dcfce7,stroke:#15803d',
      '  classDef event fill:#fef3c7,stroke:#b45309',
      '  classDef handler fill:#f3f4f6,stroke:#374151',
    );
    return lines.join('\n');
  }
}
