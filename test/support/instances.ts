import { randomUUID } from 'node:crypto';
import type { ServiceInstance } from '@meshkit/toolkit';

/** A healthy registration of `service` at 127.0.0.1:`port` (a fresh id), with any field overridden. */
export function testInstance(service: string, port: number, overrides: Partial<ServiceInstance> = {}): ServiceInstance {
  return {
    id: randomUUID(),
    service,
    version: '1.0.0',
    host: '127.0.0.1',
    port,
    weight: 1,
    tags: [],
    meta: {},
    status: 'healthy',
    registeredAt: 0,
    lastHeartbeat: 0,
    ...overrides,
  };
}
