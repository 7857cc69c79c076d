export * from './strategy.js';
