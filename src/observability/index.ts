export * from './instrumentation';
