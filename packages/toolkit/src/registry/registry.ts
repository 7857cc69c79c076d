import type { InstanceRegistration, ServiceInstance } from './instance.js';

export interface RegisterOptions {
  /** Lease length in ms; the instance disappears this long after its last heartbeat. Default 6000. */
  ttlMs?: number;
}

/** A change the registry announces. `instance` is absent for `down`. */
export type RegistryEvent =
  | { type: 'up'; service: string; id: string; instance: ServiceInstance }
  | { type: 'down'; service: string; id: string };

export type RegistryListener = (event: RegistryEvent) => void;

/**
 * Where instances announce themselves. Implementations: in-memory, Redis.
 * `register` is an upsert (used also to change status, e.g. to `draining`).
 */
export interface Registry {
  readonly kind: string;
  register(instance: InstanceRegistration, options?: RegisterOptions): Promise<void>;
  deregister(id: string): Promise<void>;
  /** Renews the lease. Resolves false when the lease is gone (expired, flushed): re-register then. */
  heartbeat(id: string): Promise<boolean>;
  /** Every live instance of one service, whatever its status. Cost: O(instances of that service). */
  instances(service: string): Promise<ServiceInstance[]>;
  /** Names of services that have (or recently had) instances. */
  services(): Promise<string[]>;
  /** Subscribes to changes; returns the unsubscribe function. Delivery is best effort: resync too. */
  watch(listener: RegistryListener): () => void;
  /** Resolves once the change feed is live (Redis subscribes asynchronously). Optional. */
  watchReady?(): Promise<void>;
  close(): Promise<void>;
}
