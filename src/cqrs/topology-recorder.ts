import type { MessageKind } from '../core';

/** An edge of the message-flow graph seen at run time. */
export interface ObservedEdge {
  handler: string;
  kind: MessageKind;
  messageType: string;
}

/** Remembers which handler sent which message while the app runs. @internal */
export class TopologyRecorder {
  readonly #edges = new Map<string, ObservedEdge>();

  observe(handler: string, kind: MessageKind, messageType: string): void {
    const key = `${handler}\u0000${kind}\u0000${messageType}`;
    if (!this.#edges.has(key)) this.#edges.set(key, { handler, kind, messageType });
  }

  edges(): ObservedEdge[] {
    return [...this.#edges.values()];
  }
}
