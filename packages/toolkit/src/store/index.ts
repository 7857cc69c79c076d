export * from './store.js';
export * from './migrate.js';
export * from './sqlite-store.js';
export * from './postgres-store.js';
export * from './open-store.js';
export * from './unique-violation.js';
export * from './idempotency-store.js';
