import { type Clock, systemClock } from '../clock.js';
import type { InstanceRegistration, ServiceInstance } from './instance.js';
import { leaseMs, type RegistryLogger, toInstance } from './registration.js';
import type { RegisterOptions, Registry, RegistryEvent, RegistryListener } from './registry.js';

export interface MemoryRegistryOptions {
  /** Lease time source; a ManualClock in tests. */
  clock?: Clock;
  /** How often expired leases are swept (and `down` announced). Default 1000 ms. */
  sweepIntervalMs?: number;
  /** Told about listeners that throw. */
  logger?: RegistryLogger;
}

interface Lease {
  instance: ServiceInstance;
  ttlMs: number;
  expiresAt: number;
}

/**
 * A registry inside one process (`npm start`, tests). Leases run on the injected clock: an
 * instance not heartbeaten within its TTL is gone, whether or not the sweeper ran yet.
 */
export class MemoryRegistry implements Registry {
  readonly kind = 'memory';
  private readonly clock: Clock;
  private readonly logger?: RegistryLogger;
  private readonly leases = new Map<string, Lease>();
  private readonly listeners = new Set<RegistryListener>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryRegistryOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1000);
    this.sweeper.unref();
  }

  async register(registration: InstanceRegistration, options: RegisterOptions = {}): Promise<void> {
    const ttlMs = leaseMs(options.ttlMs);
    const now = this.clock.now();
    const previous = this.live(registration.id, now);
    const instance = toInstance(registration, now, previous?.instance);
    // Same id under another service name: the old entry is gone from that service.
    if (previous && previous.instance.service !== instance.service) {
      this.emit({ type: 'down', service: previous.instance.service, id: instance.id });
    }
    this.leases.set(instance.id, { instance, ttlMs, expiresAt: now + ttlMs });
    this.emit({ type: 'up', service: instance.service, id: instance.id, instance: copy(instance) });
  }

  async deregister(id: string): Promise<void> {
    const lease = this.live(id, this.clock.now());
    if (!lease) return;
    this.leases.delete(id);
    this.emit({ type: 'down', service: lease.instance.service, id });
  }

  async heartbeat(id: string): Promise<boolean> {
    const now = this.clock.now();
    const lease = this.live(id, now);
    if (!lease) return false;
    lease.expiresAt = now + lease.ttlMs;
    lease.instance.lastHeartbeat = now;
    return true;
  }

  async instances(service: string): Promise<ServiceInstance[]> {
    this.sweep();
    const out: ServiceInstance[] = [];
    for (const { instance } of this.leases.values()) {
      if (instance.service === service) out.push(copy(instance));
    }
    return out;
  }

  async services(): Promise<string[]> {
    this.sweep();
    return [...new Set([...this.leases.values()].map((l) => l.instance.service))];
  }

  watch(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.listeners.clear();
  }

  /** Removes every expired lease and announces it `down`. Runs on a timer and before each read. */
  sweep(): void {
    const now = this.clock.now();
    for (const id of [...this.leases.keys()]) this.live(id, now);
  }

  /** The lease of `id` if it is still live; an expired one is removed (and announced) here. */
  private live(id: string, now: number): Lease | undefined {
    const lease = this.leases.get(id);
    if (!lease) return undefined;
    if (lease.expiresAt > now) return lease;
    this.leases.delete(id);
    this.emit({ type: 'down', service: lease.instance.service, id });
    return undefined;
  }

  private emit(event: RegistryEvent): void {
    for (const listener of this.listeners) {
      // Later, outside the caller's stack: a listener cannot fail or slow down a registration.
      queueMicrotask(() => {
        if (!this.listeners.has(listener)) return; // unsubscribed in the meantime
        try {
          listener(event);
        } catch (err) {
          this.logger?.warn({ err, event }, 'registry listener threw');
        }
      });
    }
  }
}

function copy(instance: ServiceInstance): ServiceInstance {
  return { ...instance, tags: [...instance.tags], meta: { ...instance.meta } };
}
