export * from './backoff.js';
export * from './cluster.js';
export * from './replicas.js';
export * from './supervisor.js';
