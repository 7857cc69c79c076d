// define-service.ts builds typebox schemas: the root index exports it, not this (see ../core.ts).
export * from './types.js';
export * from './problem.js';
export * from './request-id.js';
export * from './create-app.js';
export * from './registrar.js';
export * from './shutdown.js';
export * from './graceful-close.js';
export * from './domain-error.js';
export * from './idempotency.js';
export * from './deadline-hook.js';
export * from './fault-injection.js';
export * from './edge/index.js';
