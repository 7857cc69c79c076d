import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceRegistration } from '../registry/instance.js';
import { MemoryRegistry } from '../registry/memory-registry.js';
import type { RegisterOptions } from '../registry/registry.js';
import { Registrar } from './registrar.js';

/** A real in-memory registry that can be switched off: every call then throws, as Redis would. */
class SwitchableRegistry extends MemoryRegistry {
  down = false;
  calls = 0;
  private check(): void {
    this.calls += 1;
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
  }
  override async register(r: InstanceRegistration, o?: RegisterOptions): Promise<void> {
    this.check();
    return super.register(r, o);
  }
  override async heartbeat(id: string): Promise<boolean> {
    this.check();
    return super.heartbeat(id);
  }
  override async deregister(id: string): Promise<void> {
    this.check();
    return super.deregister(id);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(options: { ttlMs?: number; heartbeatMs?: number } = {}) {
  const registry = new SwitchableRegistry();
  const instance: InstanceRegistration = {
    id: crypto.randomUUID(),
    service: 'registrar-test',
    version: '1.0.0',
    host: '127.0.0.1',
    port: 4567,
    weight: 1,
    tags: [],
    meta: {},
    status: 'healthy',
  };
  const warnings: string[] = [];
  const logger = {
    info() {},
    debug() {},
    warn(_obj: unknown, msg?: string) {
      warnings.push(msg ?? '');
    },
  };
  const registrar = new Registrar(registry, instance, { ttlMs: 1000, heartbeatMs: 50, logger, ...options });
  cleanups.push(() => registry.close(), () => registrar.stop());
  return { registry, registrar, instance, warnings };
}

async function eventually(check: () => Promise<boolean>, withinMs = 2000): Promise<void> {
  const until = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Registrar', () => {
  it('registers on start and keeps the lease alive past its TTL', async () => {
    const { registry, registrar, instance } = setup({ ttlMs: 200, heartbeatMs: 50 });
    await registrar.start();
    expect((await registry.instances('registrar-test')).map((i) => i.id)).toEqual([instance.id]);
    await new Promise((r) => setTimeout(r, 500)); // 2.5 TTLs
    expect(await registry.instances('registrar-test')).toHaveLength(1);
  });

  it('registers again at once when its lease is deleted', async () => {
    const { registry, registrar, instance } = setup();
    await registrar.start();
    await registry.deregister(instance.id); // as if the lease expired or Redis was flushed
    expect(await registry.instances('registrar-test')).toEqual([]);
    await eventually(async () => (await registry.instances('registrar-test')).length === 1);
  });

  it('survives a registry that throws, logs the outage once, and registers when it is back', async () => {
    const { registry, registrar, warnings } = setup();
    registry.down = true;
    await expect(registrar.start()).resolves.toBeUndefined();
    const before = registry.calls;
    await eventually(async () => registry.calls >= before + 3); // retrying in the background
    expect(warnings).toHaveLength(1);
    registry.down = false;
    await eventually(async () => (await registry.instances('registrar-test')).length === 1);
    registry.down = true; // a second outage is logged again, once
    await eventually(async () => warnings.length === 2);
    registry.down = false;
  });

  it('publishes a status change', async () => {
    const { registry, registrar } = setup();
    await registrar.start();
    await registrar.setStatus('draining');
    expect((await registry.instances('registrar-test'))[0]?.status).toBe('draining');
  });

  it('deregisters on stop and stays deregistered', async () => {
    const { registry, registrar } = setup();
    await registrar.start();
    await registrar.stop();
    await registrar.stop();
    expect(await registry.instances('registrar-test')).toEqual([]);
    await new Promise((r) => setTimeout(r, 200)); // several heartbeat intervals
    expect(await registry.instances('registrar-test')).toEqual([]);
  });

  it('stops without throwing when the registry is down', async () => {
    const { registry, registrar, warnings } = setup();
    await registrar.start();
    registry.down = true;
    await expect(registrar.stop()).resolves.toBeUndefined();
    expect(warnings.some((w) => w.includes('deregister'))).toBe(true);
  });

  it('does not hold start() longer than one TTL when the registry hangs', async () => {
    const registry = new MemoryRegistry();
    registry.register = () => new Promise<void>(() => {}); // never answers
    const registrar = new Registrar(registry, setup().instance, { ttlMs: 200, heartbeatMs: 50 });
    cleanups.push(() => registry.close(), () => registrar.stop());
    const started = Date.now();
    await registrar.start();
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(registrar.stop()).resolves.toBeUndefined();
  });
});
