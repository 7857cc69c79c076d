export * from './instance-source.js';
