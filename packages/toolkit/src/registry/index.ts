export * from './instance.js';
export * from './registry.js';
export { DEFAULT_TTL_MS, type RegistryLogger } from './registration.js';
export * from './memory-registry.js';
export * from './redis-registry.js';
export * from './create-registry.js';
