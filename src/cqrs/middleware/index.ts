export * from './validation.middleware';
export * from './timeout.middleware';
export * from './retry.middleware';
