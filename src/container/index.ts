export * from './lifecycle';
export * from './tokens';
export { tokenName } from './provider-definition';
export * from './potter-container';
export * from './topology';
export * from './potter-app';
export * from './bootstrap';
