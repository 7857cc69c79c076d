export * from './instance-source.js';
export * from './discovery.js';
