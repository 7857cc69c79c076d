export * from './circuit-breaker.js';
export * from './outlier-detector.js';
export * from './retry-budget.js';
export * from './deadline.js';
