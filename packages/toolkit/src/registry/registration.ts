import { MeshError } from '../errors.js';
import type { InstanceRegistration, ServiceInstance } from './instance.js';
import type { RegistryEvent } from './registry.js';

/** The slice of a pino logger the registry and discovery use. */
export interface RegistryLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

/** Lease length when `register` is not told one. */
export const DEFAULT_TTL_MS = 6000;

const STATUSES = new Set(['starting', 'healthy', 'draining']);

/**
 * Checks a registration and stamps its times. `previous` is the copy this registry already holds
 * (an upsert keeps the first `registeredAt`). Refuses what would break lookups or balancing.
 */
export function toInstance(
  registration: InstanceRegistration,
  now: number,
  previous?: ServiceInstance,
): ServiceInstance {
  const r = registration;
  const bad = (detail: string) => new MeshError('VALIDATION_FAILED', `invalid registration: ${detail}`);
  if (typeof r.id !== 'string' || r.id === '') throw bad('id must be a non-empty string');
  if (typeof r.service !== 'string' || r.service === '') throw bad('service must be a non-empty string');
  if (typeof r.version !== 'string') throw bad('version must be a string');
  if (typeof r.host !== 'string' || r.host === '') throw bad('host must be a non-empty string');
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) throw bad('port must be an integer 1–65535');
  if (!Number.isInteger(r.weight) || r.weight < 1) throw bad('weight must be a positive integer');
  if (!STATUSES.has(r.status)) throw bad(`status must be one of ${[...STATUSES].join(', ')}`);
  return {
    id: r.id,
    service: r.service,
    version: r.version,
    host: r.host,
    port: r.port,
    weight: r.weight,
    tags: [...(r.tags ?? [])],
    meta: { ...(r.meta ?? {}) },
    status: r.status,
    registeredAt: r.registeredAt ?? previous?.registeredAt ?? now,
    lastHeartbeat: now,
  };
}

export function leaseMs(ttlMs: number | undefined): number {
  const ttl = ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isFinite(ttl) || ttl < 1) {
    throw new MeshError('VALIDATION_FAILED', `invalid registration: ttlMs must be a positive number, got ${ttl}`);
  }
  return Math.ceil(ttl);
}

/** Parses a RegistryEvent from the wire; undefined when the message is not one. */
export function parseRegistryEvent(text: string): RegistryEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e.service !== 'string' || typeof e.id !== 'string') return undefined;
  if (e.type === 'down') return { type: 'down', service: e.service, id: e.id };
  if (e.type === 'up' && isInstance(e.instance) && e.instance.id === e.id && e.instance.service === e.service) {
    return { type: 'up', service: e.service, id: e.id, instance: e.instance };
  }
  return undefined;
}

/** A structural check of an instance read back from a shared store (another process wrote it). */
export function isInstance(v: unknown): v is ServiceInstance {
  if (typeof v !== 'object' || v === null) return false;
  const i = v as Record<string, unknown>;
  return (
    typeof i.id === 'string' &&
    typeof i.service === 'string' &&
    typeof i.version === 'string' &&
    typeof i.host === 'string' &&
    typeof i.port === 'number' &&
    typeof i.weight === 'number' &&
    typeof i.status === 'string' &&
    STATUSES.has(i.status) &&
    Array.isArray(i.tags) &&
    typeof i.meta === 'object' &&
    i.meta !== null
  );
}
