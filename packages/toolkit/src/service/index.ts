export * from './types.js';
export * from './problem.js';
export * from './request-id.js';
export * from './create-app.js';
export * from './registrar.js';
export * from './define-service.js';
export * from './shutdown.js';
export * from './graceful-close.js';
