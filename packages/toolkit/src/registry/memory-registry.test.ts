import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { MemoryRegistry } from './memory-registry.js';
import { registration, registryBehaviour } from './registry-behaviour.test-suite.js';
import type { RegistryEvent } from './registry.js';

registryBehaviour('memory', async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const registry = new MemoryRegistry({ clock });
  return {
    registry,
    // One process, one store: a second "client" is the same registry.
    other: async () => registry,
    advance: async (ms) => clock.advance(ms),
    cleanup: () => registry.close(),
  };
});

describe('MemoryRegistry', () => {
  it('the sweeper announces an expired lease as down, though nobody reads', async () => {
    const clock = new ManualClock();
    const registry = new MemoryRegistry({ clock, sweepIntervalMs: 10 });
    const events: RegistryEvent[] = [];
    registry.watch((e) => events.push(e));
    const reg = registration();
    await registry.register(reg, { ttlMs: 1000 });
    clock.advance(1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(events.map((e) => e.type)).toEqual(['up', 'down']);
    expect(events[1]).toEqual({ type: 'down', service: 'user-service', id: reg.id });
    await registry.close();
  });

  it('delivers events after the call returns, not inside it', async () => {
    const registry = new MemoryRegistry({ clock: new ManualClock() });
    const events: RegistryEvent[] = [];
    registry.watch((e) => events.push(e));
    const done = registry.register(registration());
    expect(events).toEqual([]);
    await done;
    await Promise.resolve();
    expect(events).toHaveLength(1);
    await registry.close();
  });

  it('the default lease is 6 s', async () => {
    const clock = new ManualClock();
    const registry = new MemoryRegistry({ clock });
    const reg = registration();
    await registry.register(reg);
    clock.advance(5999);
    expect(await registry.instances('user-service')).toHaveLength(1);
    clock.advance(1);
    expect(await registry.instances('user-service')).toHaveLength(0);
    await registry.close();
  });

  it('moving an id to another service announces it down there', async () => {
    const registry = new MemoryRegistry({ clock: new ManualClock() });
    const events: RegistryEvent[] = [];
    registry.watch((e) => events.push(e));
    const reg = registration({ service: 'a' });
    await registry.register(reg);
    await registry.register({ ...reg, service: 'b' });
    await Promise.resolve();
    expect(events.map((e) => `${e.type}:${e.service}`)).toEqual(['up:a', 'down:a', 'up:b']);
    expect(await registry.instances('a')).toEqual([]);
    await registry.close();
  });
});
