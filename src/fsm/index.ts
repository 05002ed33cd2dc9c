export { defineMachine, MachineDefinition, DEFAULT_HISTORY_LIMIT } from './machine-definition';
export { Machine } from './machine';
export type {
  EventMap,
  EventName,
  SimpleEvents,
  PayloadArgs,
  MachineEvent,
  GuardArgs,
  GuardFn,
  NamedGuard,
  Guard,
  ActionArgs,
  Action,
  TransitionConfig,
  TransitionsFor,
  StateConfig,
  MachineConfig,
  MachineConfigBase,
  InitialContext,
  TransitionRecord,
  MachineSnapshot,
  MachineOptions,
} from './types';
