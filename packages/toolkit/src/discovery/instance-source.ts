import type { ServiceInstance } from '../registry/instance.js';

/**
 * A local, synchronous view of instances: what the client reads on every request (no I/O).
 * Discovery implements it from the registry; tests may use a fixed list.
 */
export interface InstanceSource {
  /** Every known instance of a service, whatever its status (callers filter). */
  instances(service: string): readonly ServiceInstance[];
  /** Names of every known service. */
  services(): string[];
  /** Called after a service's view changed; returns unsubscribe. */
  onChange(listener: (service: string) => void): () => void;
}

/** A fixed, hand-fed InstanceSource (tests, static configuration). */
export class StaticInstanceSource implements InstanceSource {
  private readonly byService = new Map<string, ServiceInstance[]>();
  private readonly listeners = new Set<(service: string) => void>();

  constructor(instances: ServiceInstance[] = []) {
    for (const i of instances) this.add(i);
  }
  instances(service: string): readonly ServiceInstance[] {
    return this.byService.get(service) ?? [];
  }
  services(): string[] {
    return [...this.byService.keys()];
  }
  onChange(listener: (service: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  add(instance: ServiceInstance): void {
    const list = (this.byService.get(instance.service) ?? []).filter((i) => i.id !== instance.id);
    this.byService.set(instance.service, [...list, instance]);
    this.emit(instance.service);
  }
  remove(id: string): void {
    for (const [service, list] of this.byService) {
      if (list.some((i) => i.id === id)) {
        this.byService.set(service, list.filter((i) => i.id !== id));
        this.emit(service);
      }
    }
  }
  private emit(service: string): void {
    for (const l of this.listeners) l(service);
  }
}
