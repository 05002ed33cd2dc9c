export * from './snapshot-store';
export * from './snapshot-strategies';
export * from './memory-snapshot-store';
