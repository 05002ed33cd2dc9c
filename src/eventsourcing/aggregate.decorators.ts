import { ConfigurationError } from '../core/errors';
import type { Constructor } from '../core/types';
import { createMetadataKey } from '../metadata/keys';
import { metadataRegistry } from '../metadata/metadata-registry';

/** Recorded by `@Aggregate`. */
export interface AggregateRecord {
  /** Stable aggregate type name; streams are named `<name>-<id>`. */
  name: string;
  /** Version of the snapshot state's schema; a snapshot of another version is ignored. */
  snapshotVersion: number;
}

/** Recorded by `@Apply` (one per event class and method). */
export interface ApplyRecord {
  event: Constructor;
  method: string | symbol;
}

/** Recorded by `@TargetAggregateId` on a command class. */
export interface TargetAggregateIdRecord {
  property: string | symbol;
}

export const AGGREGATE = createMetadataKey<AggregateRecord>('aggregate');
export const APPLY = createMetadataKey<ApplyRecord>('apply');
export const TARGET_AGGREGATE_ID = createMetadataKey<TargetAggregateIdRecord>('target-aggregate-id');

/** Options of `@Aggregate`. */
export interface AggregateOptions {
  /** Version of the snapshot schema (bump it when the state's shape changes). @default 1 */
  snapshotVersion?: number;
}

/** Marks an event-sourced aggregate class, with a stable type name (default: the class name). */
export function Aggregate(name?: string, options: AggregateOptions = {}): ClassDecorator {
  return (target) => {
    const snapshotVersion = options.snapshotVersion ?? 1;
    if (!Number.isInteger(snapshotVersion) || snapshotVersion < 1) {
      throw new ConfigurationError(`snapshotVersion of ${target.name} must be an integer >= 1.`, {
        snapshotVersion,
      });
    }
    metadataRegistry.set(AGGREGATE, target, { name: name ?? target.name, snapshotVersion });
  };
}

/** Marks the method that folds an event of class `event` into the aggregate's state. */
export function Apply(event: Constructor): MethodDecorator {
  return (target, propertyKey) => {
    metadataRegistry.add(APPLY, (target as object).constructor, { event, method: propertyKey });
  };
}

/** Marks the command field that holds the id of the aggregate the command targets. */
export function TargetAggregateId(): PropertyDecorator {
  return (target, propertyKey) => {
    metadataRegistry.set(TARGET_AGGREGATE_ID, (target as object).constructor, { property: propertyKey });
  };
}
