import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isMeshError } from '../errors.js';
import type { InstanceRegistration } from './instance.js';
import type { Registry, RegistryEvent } from './registry.js';

/** One backend under test: a fresh, empty namespace per test. */
export interface RegistryUnderTest {
  registry: Registry;
  /** A second client on the same backend ("registered by one, seen by another"). Closed by cleanup. */
  other: () => Promise<Registry>;
  /** Moves lease time forward: a ManualClock, or a real sleep. */
  advance: (ms: number) => Promise<void>;
  cleanup: () => Promise<void>;
}

/** The lease in the expiry tests: short for a real-time backend; their steps keep ≥ 300 ms either side of expiry. */
const TTL = 1000;
/** The lease everywhere else: long enough never to run out during a test. */
const LEASE = 30_000;

export function registration(overrides: Partial<InstanceRegistration> = {}): InstanceRegistration {
  return {
    id: randomUUID(),
    service: 'user-service',
    version: '1.0.0',
    host: '127.0.0.1',
    port: 8001,
    weight: 1,
    tags: ['blue'],
    meta: { pid: '1234' },
    status: 'healthy',
    ...overrides,
  };
}

/**
 * The behaviour every Registry implementation shares, run once per implementation
 * (each `*-registry.test.ts` calls this with its own backend).
 */
export function registryBehaviour(name: string, make: () => Promise<RegistryUnderTest>): void {
  describe(`Registry behaviour: ${name}`, () => {
    let t: RegistryUnderTest;
    beforeEach(async () => {
      t = await make();
    });
    afterEach(async () => {
      await t.cleanup();
    });

    it('returns a registered instance with its fields and stamped times', async () => {
      const reg = registration({ port: 8101, weight: 3, tags: ['a', 'b'], meta: { zone: 'z1' } });
      await t.registry.register(reg, { ttlMs: LEASE });
      const found = await t.registry.instances('user-service');
      expect(found).toHaveLength(1);
      const [i] = found;
      expect(i).toMatchObject({ ...reg });
      expect(typeof i?.registeredAt).toBe('number');
      expect(typeof i?.lastHeartbeat).toBe('number');
    });

    it('an instance registered by one client is seen by another', async () => {
      const other = await t.other();
      const reg = registration();
      await t.registry.register(reg, { ttlMs: LEASE });
      expect((await other.instances('user-service')).map((i) => i.id)).toEqual([reg.id]);
      expect(await other.services()).toContain('user-service');
    });

    it('keeps many instances of one service', async () => {
      const regs = Array.from({ length: 5 }, (_, n) => registration({ port: 9000 + n }));
      for (const r of regs) await t.registry.register(r, { ttlMs: LEASE });
      const found = await t.registry.instances('user-service');
      expect(found.map((i) => i.id).sort()).toEqual(regs.map((r) => r.id).sort());
      expect(found.map((i) => i.port).sort()).toEqual([9000, 9001, 9002, 9003, 9004]);
    });

    it('lists the services that have instances', async () => {
      await t.registry.register(registration({ service: 'user-service' }), { ttlMs: LEASE });
      await t.registry.register(registration({ service: 'order-service' }), { ttlMs: LEASE });
      await t.registry.register(registration({ service: 'order-service' }), { ttlMs: LEASE });
      expect((await t.registry.services()).sort()).toEqual(['order-service', 'user-service']);
    });

    it('register is an upsert: a second call changes the status, keeps one instance and its registeredAt', async () => {
      const reg = registration({ status: 'starting' });
      await t.registry.register(reg, { ttlMs: LEASE });
      const [first] = await t.registry.instances('user-service');
      await t.advance(50);
      await t.registry.register({ ...reg, status: 'draining' }, { ttlMs: LEASE });
      const found = await t.registry.instances('user-service');
      expect(found).toHaveLength(1);
      expect(found[0]?.status).toBe('draining');
      expect(found[0]?.registeredAt).toBe(first?.registeredAt);
    });

    it('a heartbeat racing a status change does not undo the change', async () => {
      const reg = registration({ status: 'healthy' });
      await t.registry.register(reg, { ttlMs: LEASE });
      // Issued together, register first: the heartbeat must renew the new copy, not the old one.
      await Promise.all([t.registry.register({ ...reg, status: 'draining' }, { ttlMs: LEASE }), t.registry.heartbeat(reg.id)]);
      expect((await t.registry.instances('user-service'))[0]?.status).toBe('draining');
    });

    it('deregister removes only that instance; deregistering an unknown id is harmless', async () => {
      const a = registration();
      const b = registration();
      await t.registry.register(a, { ttlMs: LEASE });
      await t.registry.register(b, { ttlMs: LEASE });
      await t.registry.deregister(a.id);
      expect((await t.registry.instances('user-service')).map((i) => i.id)).toEqual([b.id]);
      await t.registry.deregister(randomUUID());
      await t.registry.deregister(a.id);
      expect((await t.registry.instances('user-service')).map((i) => i.id)).toEqual([b.id]);
      expect(await t.registry.heartbeat(a.id)).toBe(false);
    });

    it('another client can deregister an instance', async () => {
      const other = await t.other();
      const reg = registration();
      await t.registry.register(reg, { ttlMs: LEASE });
      await other.deregister(reg.id);
      expect(await t.registry.instances('user-service')).toEqual([]);
    });

    it('heartbeat renews the lease; once the lease expired it resolves false', async () => {
      const reg = registration();
      await t.registry.register(reg, { ttlMs: TTL });
      const [before] = await t.registry.instances('user-service');
      await t.advance(TTL / 2);
      expect(await t.registry.heartbeat(reg.id)).toBe(true);
      await t.advance(TTL / 2 + 200); // past the first lease, inside the renewed one (by 300 ms)
      const [renewed] = await t.registry.instances('user-service');
      expect(renewed?.id).toBe(reg.id);
      expect(renewed?.lastHeartbeat).toBeGreaterThan(before?.lastHeartbeat ?? Infinity);
      await t.advance(TTL + 300);
      expect(await t.registry.instances('user-service')).toEqual([]);
      expect(await t.registry.heartbeat(reg.id)).toBe(false);
      // The caller re-registers, and the instance is back.
      await t.registry.register(reg, { ttlMs: TTL });
      expect((await t.registry.instances('user-service')).map((i) => i.id)).toEqual([reg.id]);
    });

    it('an instance that stops heartbeating is gone after its TTL, without deregistering', async () => {
      const dies = registration();
      const lives = registration();
      await t.registry.register(dies, { ttlMs: TTL });
      await t.registry.register(lives, { ttlMs: LEASE });
      await t.advance(TTL - 300);
      expect((await t.registry.instances('user-service')).map((i) => i.id).sort()).toEqual(
        [dies.id, lives.id].sort(),
      );
      await t.advance(600);
      expect((await t.registry.instances('user-service')).map((i) => i.id)).toEqual([lives.id]);
      expect(await t.registry.heartbeat(dies.id)).toBe(false);
    });

    it('watch sees up and down made by another client; unsubscribe stops delivery', async () => {
      const other = await t.other();
      const events: RegistryEvent[] = [];
      const stop = t.registry.watch((e) => events.push(e));
      const reg = registration({ service: 'watched-service' });
      // A subscription may take a moment to be live; register is an upsert, so repeat until seen.
      await vi.waitFor(
        async () => {
          await other.register(reg, { ttlMs: LEASE });
          await new Promise((r) => setTimeout(r, 20));
          expect(events.some((e) => e.type === 'up' && e.id === reg.id)).toBe(true);
        },
        { timeout: 3000, interval: 10 },
      );
      const up = events.find((e) => e.type === 'up' && e.id === reg.id);
      expect(up).toMatchObject({ type: 'up', service: 'watched-service', id: reg.id, instance: { port: reg.port } });
      await other.deregister(reg.id);
      await vi.waitFor(() => expect(events).toContainEqual({ type: 'down', service: 'watched-service', id: reg.id }), {
        timeout: 3000,
      });
      stop();
      const seen = events.length;
      await other.register(registration({ service: 'watched-service' }), { ttlMs: LEASE });
      await new Promise((r) => setTimeout(r, 100));
      expect(events).toHaveLength(seen);
    });

    it('a listener that throws does not break the registry or other listeners', async () => {
      const seen: string[] = [];
      t.registry.watch(() => {
        throw new Error('listener bug');
      });
      t.registry.watch((e) => seen.push(e.id));
      const reg = registration();
      await vi.waitFor(
        async () => {
          await t.registry.register(reg, { ttlMs: LEASE });
          await new Promise((r) => setTimeout(r, 20));
          expect(seen).toContain(reg.id);
        },
        { timeout: 3000, interval: 10 },
      );
      expect((await t.registry.instances('user-service')).map((i) => i.id)).toEqual([reg.id]);
    });

    it('does not return instances of other services, even ones whose name starts the same', async () => {
      const a = registration({ service: 'orders' });
      await t.registry.register(a, { ttlMs: LEASE });
      await t.registry.register(registration({ service: 'orders:v2' }), { ttlMs: LEASE });
      await t.registry.register(registration({ service: 'orders-service' }), { ttlMs: LEASE });
      await t.registry.register(registration({ service: 'order' }), { ttlMs: LEASE });
      expect((await t.registry.instances('orders')).map((i) => i.id)).toEqual([a.id]);
      expect(await t.registry.instances('nobody')).toEqual([]);
    });

    it('a service name with colons, spaces or stars is safe', async () => {
      const name = 'my service:v2 *';
      const reg = registration({ service: name });
      await t.registry.register(reg, { ttlMs: LEASE });
      expect(await t.registry.services()).toContain(name);
      expect((await t.registry.instances(name)).map((i) => i.id)).toEqual([reg.id]);
      expect(await t.registry.instances('my service')).toEqual([]);
      await t.registry.deregister(reg.id);
      expect(await t.registry.instances(name)).toEqual([]);
    });

    it('refuses a registration that would break lookups or balancing', async () => {
      const refused = async (r: InstanceRegistration, ttlMs = LEASE) => {
        const err = await t.registry.register(r, { ttlMs }).catch((e: unknown) => e);
        expect(isMeshError(err) && err.code).toBe('VALIDATION_FAILED');
      };
      await refused(registration({ port: 0 }));
      await refused(registration({ port: 70000 }));
      await refused(registration({ weight: 0 }));
      await refused(registration({ service: '' }));
      await refused(registration({ id: '' }));
      await refused(registration(), 0);
      expect(await t.registry.services()).toEqual([]);
    });
  });
}
