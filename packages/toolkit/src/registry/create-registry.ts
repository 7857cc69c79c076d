import type { Clock } from '../clock.js';
import { MemoryRegistry } from './memory-registry.js';
import { RedisRegistry } from './redis-registry.js';
import type { RegistryLogger } from './registration.js';
import type { Registry } from './registry.js';

export interface CreateRegistryOptions {
  logger?: RegistryLogger;
  /** Redis key prefix. Default `meshkit:`. */
  prefix?: string;
  clock?: Clock;
}

/**
 * The registry a `REDIS_URL` names: none (undefined or empty) is the in-memory one.
 * Anything else that is not a Redis URL fails here, at start, naming the variable.
 */
export function createRegistry(url: string | undefined, opts: CreateRegistryOptions = {}): Registry {
  if (url === undefined || url === '') return new MemoryRegistry({ clock: opts.clock, logger: opts.logger });
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new Error(`REDIS_URL must be a redis:// or rediss:// URL, got "${url}"`);
  }
  return new RedisRegistry({ url, prefix: opts.prefix, logger: opts.logger, clock: opts.clock });
}
