export * from './event-bus';
export * from './distributed-handlers';
