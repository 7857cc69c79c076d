export * from './core.js';
// What services are written with; each builds typebox schemas as it loads, so core.ts leaves them out.
export * from './wire/paging.js';
export * from './wire/text.js';
export * from './service/define-service.js';
