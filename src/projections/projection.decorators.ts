import type { BackoffOptions } from '../core/backoff';
import { ConfigurationError } from '../core/errors';
import type { Constructor } from '../core/types';
import type { RecordedEvent } from '../eventsourcing/event-store';
import type { SqlClient } from '../eventsourcing/sql/sql-client';
import { PROJECTION as PROJECTION_KEY, createMetadataKey, type MetadataKey } from '../metadata/keys';
import { metadataRegistry } from '../metadata/metadata-registry';
import { Injectable } from '../metadata/module.decorators';
import type { ReadModelCollection, ReadModelDocument } from './read-model-store';

/** Where a projection seen for the first time starts. */
export type ProjectionStart = 'beginning' | 'head' | Date;

/** Options of {@link Projection}. */
export interface ProjectionOptions {
  /** Events read and handled per batch (one transaction per batch for transactional projections). @default 500 */
  batchSize?: number;
  /**
   * Where the projection starts the first time it runs: every stored event (`'beginning'`), only
   * events stored from now on (`'head'`), or events recorded at or after a point in time (a `Date`:
   * earlier events are ignored for good, including in rebuilds). @default 'beginning'
   */
  startFrom?: ProjectionStart;
  /** Only events of streams whose id starts with this prefix. */
  streamIdPrefix?: string;
  /** Retries of a failing event before the failure policy applies. @default { maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 5000 } */
  retry?: BackoffOptions;
  /**
   * After the retries: `'stop'` the projection (status `faulted`, with the error and position) or
   * `'park'` the event and every later event of its stream (other streams go on) until the parked
   * events are retried. Nothing is ever skipped silently. @default 'stop'
   */
  onError?: 'stop' | 'park';
  /**
   * `'transactional'`: handlers write through `context.transaction` / `context.readModel()` and the
   * checkpoint is written in the same transaction — each event's effect happens exactly once; it
   * needs a SQL projection store. `'at-least-once'`: the checkpoint is written after the handlers;
   * after a crash some events are handled again (make handlers idempotent, see `applyOnce`).
   * @default 'transactional' when the projection store is SQL, else 'at-least-once'
   */
  delivery?: 'transactional' | 'at-least-once';
  /**
   * Whether the read model can be rebuilt blue/green (`rebuild(name, { blueGreen: true })`): its
   * writes go to `context.generation` (the read-model store's collections do). Set `false` for
   * hand-written tables without generations: a blue/green rebuild is then refused
   * (`ConfigurationError`) — it would clear the live tables and let two runners write them — and
   * `reset` rebuilds instead. @default true
   */
  blueGreen?: boolean;
}

/** Recorded by {@link Projection}. */
export interface ProjectionRecordMetadata {
  name: string;
  options: ProjectionOptions;
}

/** Metadata key of `@Projection`. */
export const PROJECTION = PROJECTION_KEY as MetadataKey<ProjectionRecordMetadata>;
/** Metadata key of `@SkipOnReplay` (the method names). */
export const SKIP_ON_REPLAY = createMetadataKey<string | symbol>('projection:skip-on-replay');

/**
 * Declares a projection: its `@EventHandler(EventClass)` methods are called with each event (as
 * an instance of its class) and a {@link ProjectionContext}, in log order, by the projection engine
 * (`ProjectionsModule.forRoot({ projections: [...] })`). The name identifies its checkpoint: keep
 * it stable. Optional hooks: `reset(context)` clears the read model before a rebuild;
 * `dropGeneration(generation, context)` deletes an old generation after a blue/green swap.
 */
export function Projection(name: string, options: ProjectionOptions = {}): ClassDecorator {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(name)) {
    throw new ConfigurationError(
      `Invalid projection name "${String(name)}": use 1 to 100 letters, digits, "_", ".", ":" or "-".`,
      { name },
    );
  }
  return (target) => {
    metadataRegistry.set(PROJECTION, target, { name, options });
    Injectable()(target);
  };
}

/**
 * Marks a projection handler that must not run while the projection replays events it handled
 * before (a reset or rebuild): use it for side effects such as e-mails. Its events still advance
 * the checkpoint.
 */
export function SkipOnReplay(): MethodDecorator {
  return (target, propertyKey) => {
    metadataRegistry.add(SKIP_ON_REPLAY, target.constructor, propertyKey);
  };
}

/** What a projection handler receives besides the event. */
export interface ProjectionContext {
  /** The projection's name. */
  readonly projection: string;
  /** The stored event (stream, version, position, metadata, recording time). */
  readonly event: RecordedEvent;
  /** True while the projection re-handles events it had handled before a reset or rebuild. */
  readonly replaying: boolean;
  /** The read-model generation being written (changes with blue/green rebuilds). */
  readonly generation: number;
  /**
   * The transaction the checkpoint will be written in (transactional projections): write the read
   * model through it and the effect happens exactly once. `undefined` for at-least-once projections.
   */
  readonly transaction: SqlClient | undefined;
  /** A collection of the engine's read-model store, in this generation and transaction. */
  readModel<T extends ReadModelDocument = ReadModelDocument>(collection: string): ReadModelCollection<T>;
}

/** What `reset` and `dropGeneration` hooks receive. */
export interface ProjectionMaintenanceContext {
  readonly projection: string;
  /** The generation to clear (`reset`) or delete (`dropGeneration`). */
  readonly generation: number;
  readonly transaction: SqlClient | undefined;
  readModel<T extends ReadModelDocument = ReadModelDocument>(collection: string): ReadModelCollection<T>;
}

/** Optional hooks a projection class may implement. */
export interface ProjectionHooks {
  /** Clears the read model of `context.generation` before a rebuild from the start. */
  reset?(context: ProjectionMaintenanceContext): Promise<void> | void;
  /** Deletes an old generation after a blue/green swap (read-model-store collections are dropped for you). */
  dropGeneration?(context: ProjectionMaintenanceContext): Promise<void> | void;
}

/** The `@Projection` metadata of a class, or a `ConfigurationError` when it has none. */
export function projectionMetadata(target: Constructor): ProjectionRecordMetadata {
  const record = metadataRegistry.get(PROJECTION, target);
  if (!record) {
    throw new ConfigurationError(
      `${target.name} is not a projection: decorate it with @Projection('name').`,
      {
        class: target.name,
      },
    );
  }
  return record;
}
