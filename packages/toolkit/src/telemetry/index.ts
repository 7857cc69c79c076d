export * from './logger.js';
export * from './metrics.js';
export * from './access-log.js';
export * from './client-metrics.js';
export * from './prometheus-text.js';
export * from './tracing.js';
export * from './server-spans.js';
export * from './client-spans.js';
