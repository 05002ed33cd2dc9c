import type { Constructor } from '../core/types';
import { createMetadataKey } from '../metadata/keys';
import { metadataRegistry } from '../metadata/metadata-registry';
import type { SagaOptions } from './types';

/** Recorded by `@Saga`. @internal */
export interface SagaRecord {
  readonly name: string;
  readonly options: SagaOptions;
}

/** Metadata key of `@Saga` (kept apart from the decorators, which load the DI container). @internal */
export const SAGA = createMetadataKey<SagaRecord>('saga');

/** The saga name of a `@Saga` class, or undefined when the class is not one. */
export function sagaNameOf(sagaClass: Function): string | undefined {
  return metadataRegistry.get(SAGA, sagaClass)?.name;
}

/** True for a `@Saga` class. */
export function isSagaClass(value: unknown): value is Constructor {
  return typeof value === 'function' && metadataRegistry.get(SAGA, value) !== undefined;
}
