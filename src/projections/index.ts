export * from './projection.decorators';
export * from './projection-store';
export * from './read-model-store';
export * from './apply-once';
export { MemoryProjectionStore } from './memory-projection-store';
export { MemoryReadModelStore } from './memory-read-model-store';
export {
  ProjectionEngine,
  type ProjectionEngineOptions,
  type ProjectionStatus,
  type ProjectionTimings,
  type WaitOptions,
} from './projection-engine';
export type { ProjectionRunState } from './projection-runner';
export * from './projections.module';
