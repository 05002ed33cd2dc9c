import type { CompiledState } from './machine-definition';
import type { EventMap } from './types';

const PLAIN_ID = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Draws compiled states as a Mermaid `stateDiagram-v2`. @internal */
export function renderMermaid<State extends string, Events extends EventMap, Context>(
  initial: State,
  states: readonly CompiledState<State, Events, Context>[],
): string {
  const ids = new Map<string, string>();
  const lines = ['stateDiagram-v2'];
  states.forEach((state, index) => {
    if (PLAIN_ID.test(state.name)) ids.set(state.name, state.name);
    else {
      ids.set(state.name, `s${index}`);
      lines.push(`    state "${state.name.replace(/"/g, "'")}" as s${index}`);
    }
  });
  const id = (name: string): string => ids.get(name) ?? name;
  lines.push(`    [*] --> ${id(initial)}`);
  for (const state of states) {
    for (const [event, candidates] of state.transitions) {
      for (const candidate of candidates) {
        const label = candidate.guard === undefined ? event : `${event} [${candidate.guard.name}]`;
        lines.push(`    ${id(state.name)} --> ${id(candidate.target ?? state.name)} : ${label}`);
      }
    }
  }
  for (const state of states) if (state.final) lines.push(`    ${id(state.name)} --> [*]`);
  return lines.join('\n');
}
