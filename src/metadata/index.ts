export * from './keys';
export * from './records';
export * from './metadata-registry';
export * from './message.decorators';
export * from './handler.decorators';
export * from './module.decorators';
