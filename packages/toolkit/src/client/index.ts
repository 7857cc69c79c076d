export * from './service-caller.js';
export * from './upstream.js';
