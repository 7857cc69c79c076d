export * from './store.js';
export * from './sqlite-store.js';
