export * from './service-caller.js';
export * from './upstream.js';
export * from './service-client.js';
