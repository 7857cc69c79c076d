export * from './instance.js';
export * from './registry.js';
