import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deleteRedisKeys, REDIS_URL, redisUp } from '../../../../test/support/backends.js';
import { ManualClock } from '../clock.js';
import { MeshError } from '../errors.js';
import type { InstanceRegistration, ServiceInstance } from '../registry/instance.js';
import { MemoryRegistry } from '../registry/memory-registry.js';
import { RedisRegistry } from '../registry/redis-registry.js';
import { registration } from '../registry/registry-behaviour.test-suite.js';
import type { RegisterOptions, Registry, RegistryListener } from '../registry/registry.js';
import { Discovery } from './discovery.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ids = (list: readonly ServiceInstance[]) => list.map((i) => i.id).sort();

/** Delegates to a registry, and can fail lookups, lose change events, or hold lookups back. */
class FaultyRegistry implements Registry {
  readonly kind = 'faulty';
  failing = false;
  muted = false;
  /** While set, `instances()` waits for it (after reading). */
  gate?: Promise<void>;
  constructor(public target: Registry) {}
  register(i: InstanceRegistration, o?: RegisterOptions) {
    return this.target.register(i, o);
  }
  deregister(id: string) {
    return this.target.deregister(id);
  }
  heartbeat(id: string) {
    return this.target.heartbeat(id);
  }
  async instances(service: string) {
    if (this.failing) throw new MeshError('UPSTREAM_FAILED', 'registry down (test)');
    const found = await this.target.instances(service);
    await this.gate;
    return found;
  }
  async services() {
    if (this.failing) throw new MeshError('UPSTREAM_FAILED', 'registry down (test)');
    return this.target.services();
  }
  watch(listener: RegistryListener) {
    return this.target.watch((e) => {
      if (!this.muted) listener(e);
    });
  }
  close() {
    return this.target.close();
  }
}

function recordingLogger() {
  const warns: string[] = [];
  const infos: string[] = [];
  return {
    warns,
    infos,
    warn: (_: object, msg?: string) => warns.push(msg ?? ''),
    info: (_: object, msg?: string) => infos.push(msg ?? ''),
  };
}

describe('Discovery over the in-memory registry', () => {
  let clock: ManualClock;
  let memory: MemoryRegistry;
  let registry: FaultyRegistry;
  let logger: ReturnType<typeof recordingLogger>;
  let discovery: Discovery;

  beforeEach(() => {
    clock = new ManualClock(1_000_000);
    // The sweeper is slow here, so expiries are found by discovery's own resync.
    memory = new MemoryRegistry({ clock, sweepIntervalMs: 60_000 });
    registry = new FaultyRegistry(memory);
    logger = recordingLogger();
    discovery = new Discovery(registry, { resyncIntervalMs: 50, clock, logger });
  });
  afterEach(async () => {
    discovery.stop();
    await memory.close();
  });

  it('starts with the registered instances, synchronously readable', async () => {
    const a = registration();
    const b = registration({ service: 'product-service' });
    await memory.register(a);
    await memory.register(b);
    expect(discovery.ready()).toBe(false);
    await discovery.start();
    expect(discovery.ready()).toBe(true);
    expect(discovery.lastSyncAt()).toBe(1_000_000);
    expect(ids(discovery.instances('user-service'))).toEqual([a.id]);
    expect(discovery.services().sort()).toEqual(['product-service', 'user-service']);
    expect(discovery.instances('nobody')).toEqual([]);
  });

  it('sees a new instance and a deregistered one within 1 s', async () => {
    await discovery.start();
    const reg = registration();
    await memory.register(reg);
    await vi.waitFor(() => expect(ids(discovery.instances('user-service'))).toEqual([reg.id]), { timeout: 1000 });
    await memory.deregister(reg.id);
    await vi.waitFor(() => expect(discovery.instances('user-service')).toEqual([]), { timeout: 1000 });
  });

  it('an instance that stops heartbeating (kill -9) is gone after its TTL, at the next resync', async () => {
    await discovery.start();
    const dies = registration();
    const lives = registration();
    await memory.register(dies, { ttlMs: 2000 });
    await memory.register(lives, { ttlMs: 20_000 });
    await vi.waitFor(() => expect(discovery.instances('user-service')).toHaveLength(2));
    clock.advance(1999);
    await sleep(120);
    expect(discovery.instances('user-service')).toHaveLength(2);
    clock.advance(1);
    await vi.waitFor(() => expect(ids(discovery.instances('user-service'))).toEqual([lives.id]), { timeout: 1000 });
  });

  it('when change events are lost, the resync still finds new and gone instances', async () => {
    registry.muted = true;
    await discovery.start();
    const reg = registration();
    const other = registration();
    await memory.register(reg, { ttlMs: 1000 });
    await memory.register(other, { ttlMs: 60_000 });
    await vi.waitFor(() => expect(ids(discovery.instances('user-service'))).toEqual([reg.id, other.id].sort()), {
      timeout: 1000,
    });
    clock.advance(1000);
    await vi.waitFor(() => expect(ids(discovery.instances('user-service'))).toEqual([other.id]), { timeout: 1000 });
  });

  it('a service the registry forgets without a word (a flush) is served from the last view for the grace', async () => {
    discovery.stop();
    discovery = new Discovery(registry, { resyncIntervalMs: 60_000, clock, logger, vanishGraceMs: 3000 });
    const a = registration();
    const b = registration();
    await memory.register(a);
    await memory.register(b);
    await discovery.start();
    registry.muted = true; // a flush announces nothing
    await memory.deregister(a.id);
    await memory.deregister(b.id);
    await discovery.resync();
    expect(ids(discovery.instances('user-service'))).toEqual([a.id, b.id].sort());
    expect(logger.warns.some((w) => w.includes('forgot a service'))).toBe(true);
    // The instances re-register at their next heartbeat: the view follows at once.
    clock.advance(1000);
    await memory.register(a);
    await discovery.resync();
    expect(ids(discovery.instances('user-service'))).toEqual([a.id]);
    // Still forgotten after the grace: gone.
    await memory.deregister(a.id);
    await discovery.resync();
    expect(ids(discovery.instances('user-service'))).toEqual([a.id]);
    clock.advance(3000);
    await discovery.resync();
    expect(discovery.instances('user-service')).toEqual([]);
  });

  it('an announced deregistration leaves at once, even of the last instance', async () => {
    registry.muted = true;
    await discovery.start();
    const reg = registration();
    await memory.register(reg, { ttlMs: 1000 });
    await discovery.resync();
    expect(ids(discovery.instances('user-service'))).toEqual([reg.id]);
    registry.muted = false;
    await memory.deregister(reg.id); // announced: no grace
    await vi.waitFor(() => expect(discovery.instances('user-service')).toEqual([]), { timeout: 1000 });
  });

  it('keeps serving the last good view while the registry fails; warns once, says when it is back', async () => {
    const reg = registration();
    await memory.register(reg);
    await discovery.start();
    registry.failing = true;
    registry.muted = true;
    const later = registration();
    await memory.register(later);
    await memory.deregister(reg.id);
    await sleep(300); // several failed resyncs
    expect(ids(discovery.instances('user-service'))).toEqual([reg.id]);
    expect(discovery.ready()).toBe(true);
    expect(logger.warns).toEqual(['discovery: registry unreachable, serving the last known view']);
    registry.failing = false;
    await vi.waitFor(() => expect(ids(discovery.instances('user-service'))).toEqual([later.id]), { timeout: 1000 });
    expect(logger.infos).toEqual(['discovery: registry reachable again, view resynced']);
    expect(logger.warns).toHaveLength(1);
  });

  it('does not throw when the registry is down at start, and fills in once it is back', async () => {
    const reg = registration();
    await memory.register(reg);
    registry.failing = true;
    await discovery.start();
    expect(discovery.ready()).toBe(false);
    expect(discovery.services()).toEqual([]);
    registry.failing = false;
    await vi.waitFor(() => expect(discovery.ready()).toBe(true), { timeout: 1000 });
    expect(ids(discovery.instances('user-service'))).toEqual([reg.id]);
  });

  it('tells onChange listeners about real changes only, not identical resyncs', async () => {
    const reg = registration({ status: 'starting' });
    await memory.register(reg);
    await discovery.start();
    const changes: string[] = [];
    discovery.onChange((s) => changes.push(s));
    discovery.onChange(() => {
      throw new Error('listener bug');
    });
    for (let n = 0; n < 4; n++) {
      clock.advance(1000);
      await memory.heartbeat(reg.id); // lastHeartbeat changes; nothing routing depends on does
      await sleep(60);
    }
    expect(changes).toEqual([]);
    await memory.register({ ...reg, status: 'healthy' });
    await vi.waitFor(() => expect(changes).toEqual(['user-service']));
    expect(discovery.instances('user-service')[0]?.status).toBe('healthy');
    await sleep(150);
    expect(changes).toEqual(['user-service']);
    await memory.register({ ...reg, status: 'healthy', port: 9999 });
    await vi.waitFor(() => expect(changes).toHaveLength(2));
    await memory.deregister(reg.id);
    await vi.waitFor(() => expect(changes).toHaveLength(3));
    expect(logger.warns.filter((w) => /listener/.test(w)).length).toBe(3);
  });

  it('a resync read that overlapped a change event does not undo the event', async () => {
    await discovery.start();
    discovery.stop(); // drive resyncs by hand
    const d = new Discovery(registry, { resyncIntervalMs: 60_000 });
    await memory.register(registration({ service: 'gated' }));
    await d.start();
    let open!: () => void;
    registry.gate = new Promise<void>((r) => {
      open = r;
    });
    const stale = d.resync(); // reads now, answers after the gate opens
    await sleep(10);
    const fresh = registration({ service: 'gated' });
    await memory.register(fresh); // the event arrives while the read is held back
    await vi.waitFor(() => expect(ids(d.instances('gated'))).toContain(fresh.id));
    open();
    registry.gate = undefined;
    await stale;
    expect(ids(d.instances('gated'))).toContain(fresh.id);
    d.stop();
  });

  it('after stop, the view no longer changes', async () => {
    await discovery.start();
    discovery.stop();
    await memory.register(registration());
    await sleep(120);
    expect(discovery.instances('user-service')).toEqual([]);
  });
});

describe.runIf(await redisUp())('Discovery over Redis', () => {
  const TTL = 600;
  let prefix: string;
  let watched: RedisRegistry;
  let writer: RedisRegistry;
  let discovery: Discovery;

  beforeEach(() => {
    prefix = `meshkit-test:${randomUUID()}:`;
    watched = new RedisRegistry({ url: REDIS_URL, prefix });
    writer = new RedisRegistry({ url: REDIS_URL, prefix });
  });
  afterEach(async () => {
    discovery?.stop();
    await Promise.all([watched.close(), writer.close()]);
    await deleteRedisKeys(prefix);
  });

  it('sees a new instance within 1 s, a deregistered one gone within 1 s, an expired one gone within TTL + resync', async () => {
    discovery = new Discovery(watched);
    await discovery.start();
    expect(discovery.ready()).toBe(true);
    const graceful = registration();
    await writer.register(graceful, { ttlMs: 5000 });
    await vi.waitFor(() => expect(ids(discovery.instances('user-service'))).toEqual([graceful.id]), { timeout: 1000 });
    await writer.deregister(graceful.id);
    await vi.waitFor(() => expect(discovery.instances('user-service')).toEqual([]), { timeout: 1000 });

    const crashed = registration();
    await writer.register(crashed, { ttlMs: TTL }); // and never heartbeats again
    await vi.waitFor(() => expect(ids(discovery.instances('user-service'))).toEqual([crashed.id]), { timeout: 1000 });
    const seenAt = performance.now();
    await vi.waitFor(() => expect(discovery.instances('user-service')).toEqual([]), { timeout: TTL + 1000 + 500 });
    expect(performance.now() - seenAt).toBeGreaterThan(TTL - 250); // it was the lease, not something else
  });

  it('keeps serving the last good view while Redis is unreachable', async () => {
    const logger = recordingLogger();
    const faulty = new FaultyRegistry(watched);
    discovery = new Discovery(faulty, { resyncIntervalMs: 100, logger });
    const reg = registration();
    await writer.register(reg, { ttlMs: 5000 });
    await discovery.start();
    expect(ids(discovery.instances('user-service'))).toEqual([reg.id]);
    // Lookups now go to a Redis that is not there.
    const dead = new RedisRegistry({ url: 'redis://127.0.0.1:1', prefix, commandTimeoutMs: 200 });
    faulty.target = dead;
    await sleep(500);
    expect(ids(discovery.instances('user-service'))).toEqual([reg.id]);
    expect(logger.warns).toHaveLength(1);
    faulty.target = watched;
    await vi.waitFor(() => expect(logger.infos).toHaveLength(1), { timeout: 1000 });
    await dead.close();
  });

  it('starts without throwing against a Redis that is not there', async () => {
    const dead = new RedisRegistry({ url: 'redis://127.0.0.1:1', prefix, commandTimeoutMs: 200 });
    discovery = new Discovery(dead, { resyncIntervalMs: 100 });
    await discovery.start();
    expect(discovery.ready()).toBe(false);
    expect(discovery.instances('user-service')).toEqual([]);
    discovery.stop();
    await dead.close();
  });
});
