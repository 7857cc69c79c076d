/**
 * `@meshkit/toolkit/core`: the toolkit without the modules that build typebox schemas as they load
 * (wire/paging.ts, wire/text.ts, service/define-service.ts), which only services use. The gateway
 * and the CLI import this, so a gateway process never loads typebox (~3 MiB of heap), as its
 * resident memory has a target (docs/performance.md). The root index exports this and those three.
 */
export * from './clock.js';
export * from './errors.js';
export * from './wire/index.js';
export * from './registry/index.js';
export * from './discovery/index.js';
export * from './balancing/index.js';
export * from './resilience/index.js';
export * from './client/index.js';
export * from './service/index.js';
export * from './store/index.js';
export * from './config/index.js';
export * from './telemetry/index.js';
