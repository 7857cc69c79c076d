/** One running copy of a service, as the registry knows it. */
export type InstanceStatus = 'starting' | 'healthy' | 'draining';

export interface ServiceInstance {
  /** Unique per running instance (a UUID). */
  id: string;
  /** The service name, e.g. `user-service`: lookups are by this name. */
  service: string;
  version: string;
  host: string;
  port: number;
  /** Relative share for the weighted strategy; a positive integer, default 1. */
  weight: number;
  tags: string[];
  /** Free-form facts, e.g. `{ pid: "1234" }`. */
  meta: Record<string, string>;
  status: InstanceStatus;
  /** Epoch ms, from the registering host's clock: shown to people, never compared across hosts. */
  registeredAt: number;
  /** Epoch ms of the last heartbeat the registry accepted (display only). */
  lastHeartbeat: number;
}

/** What a caller supplies to register; the registry stamps the times. */
export type InstanceRegistration = Omit<ServiceInstance, 'registeredAt' | 'lastHeartbeat'> &
  Partial<Pick<ServiceInstance, 'registeredAt' | 'lastHeartbeat'>>;
