/**
 * Every metadata key Potter records, in one place. Later modules (aggregates, projections, sagas…)
 * add theirs here with {@link createMetadataKey}.
 */

/** A typed key under which decorators record values of type `T` on a class. */
export interface MetadataKey<T> {
  readonly id: symbol;
  readonly name: string;
  /** Type-level only. */
  readonly __type?: T;
}

/** Creates a typed metadata key. */
export function createMetadataKey<T>(name: string): MetadataKey<T> {
  return { id: Symbol.for(`potter:${name}`), name };
}

import type { HandlerRecord, InjectRecord, InjectableRecord, MessageRecord, ModuleRecord } from './records';

export const MESSAGE = createMetadataKey<MessageRecord>('message');
export const HANDLER = createMetadataKey<HandlerRecord>('handler');
export const MODULE = createMetadataKey<ModuleRecord>('module');
export const INJECTABLE = createMetadataKey<InjectableRecord>('injectable');
export const INJECT = createMetadataKey<InjectRecord>('inject');
/**
 * Recorded by `@Projection` (value: its name and options). Defined here so the container can tell
 * that a projection's `@EventHandler` methods belong to the projection engine, not the event bus.
 */
export const PROJECTION = createMetadataKey<{ name: string; options: object }>('projection');
