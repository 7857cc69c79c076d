import type { CircuitStateName, InstanceStatus, ServiceDispatcher, ServiceSnapshot } from '@meshkit/toolkit/core';
import type { FastifyInstance } from 'fastify';

/** One instance as `GET /registry` shows it (snake_case on the wire). */
export interface RegistryInstanceView {
  id: string;
  host: string;
  port: number;
  version: string;
  weight: number;
  status: InstanceStatus;
  circuit: CircuitStateName;
  in_flight: number;
  /** Ejected by outlier detection right now, and how many times so far. */
  ejected: boolean;
  ejections: number;
  meta: Record<string, string>;
}

export interface RegistryView {
  services: { name: string; instances: RegistryInstanceView[] }[];
}

/** The client's view of the mesh, in a stable order (services by name, instances by address). */
export function registryView(snapshot: readonly ServiceSnapshot[]): RegistryView {
  const services = snapshot.map((s) => ({
    name: s.name,
    instances: s.instances
      .map(({ instance: i, circuit, inFlight, ejected, ejections }) => ({
        id: i.id,
        host: i.host,
        port: i.port,
        version: i.version,
        weight: i.weight,
        status: i.status,
        circuit,
        in_flight: inFlight,
        ejected,
        ejections,
        meta: { ...i.meta },
      }))
      .sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port || a.id.localeCompare(b.id)),
  }));
  return { services: services.sort((a, b) => a.name.localeCompare(b.name)) };
}

/** `GET /registry`: what this gateway knows of every service, with breaker and load state. */
export function registryRoute(app: FastifyInstance, client: ServiceDispatcher): void {
  app.get('/registry', async () => registryView(client.snapshot()));
}
