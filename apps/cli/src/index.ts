export * from './demo.js';
export * from './launcher.js';
export * from './parts.js';
export * from './status.js';
export * from './cluster/index.js';
