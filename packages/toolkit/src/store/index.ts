export * from './store.js';
export * from './sqlite-store.js';
export * from './unique-violation.js';
