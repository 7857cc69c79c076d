export * from './ids.js';
export * from './money.js';
export * from './paging.js';
export * from './random-ids.js';
export * from './text.js';
export * from './url-path.js';
export * from './raw-headers.js';
