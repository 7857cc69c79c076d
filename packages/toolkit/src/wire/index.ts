// paging.ts and text.ts build typebox schemas: the root index exports them, not this (see ../core.ts).
export * from './ids.js';
export * from './money.js';
export * from './random-ids.js';
export * from './url-path.js';
export * from './raw-headers.js';
