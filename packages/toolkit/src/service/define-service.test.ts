import net from 'node:net';
import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { MemoryRegistry } from '../registry/memory-registry.js';
import type { RegistryEvent } from '../registry/registry.js';
import { defineService } from './define-service.js';
import type { ServiceDefinition, ServiceHandle } from './types.js';

const handles: ServiceHandle[] = [];
const registries: MemoryRegistry[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop()));
  await Promise.all(registries.splice(0).map((r) => r.close()));
});

async function service(def: Partial<ServiceDefinition> = {}, options: Parameters<typeof defineService>[1] = { port: 0 }) {
  const handle = await defineService(
    { name: 'test-service', routes() {}, ...def },
    { logger: false, ...options },
  );
  handles.push(handle);
  return handle;
}

function registry(): MemoryRegistry {
  const r = new MemoryRegistry();
  registries.push(r);
  return r;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('health and info routes', () => {
  it('/health has the seed shape: status, service_id, timestamp in epoch seconds', async () => {
    const clock = new ManualClock(1_700_000_000_123);
    const svc = await service({}, { port: 0, clock });
    const res = await svc.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'starting', service_id: svc.instance.id, timestamp: 1_700_000_000.123 });
    await svc.start();
    expect((await svc.app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ status: 'healthy' });
  });

  it('/info has the seed shape, with the actual port once started', async () => {
    const svc = await service({ version: '2.1.0' });
    await svc.start();
    const res = await svc.app.inject({ method: 'GET', url: '/info' });
    expect(res.json()).toEqual({
      id: svc.instance.id,
      name: 'test-service',
      version: '2.1.0',
      host: '127.0.0.1',
      port: svc.instance.port,
    });
    expect(svc.instance.port).toBeGreaterThan(0);
    expect(svc.url).toBe(`http://127.0.0.1:${svc.instance.port}`);
  });

  it('/health/live is always ok; /health/ready follows start, the ready check and draining', async () => {
    let dbUp = true;
    const svc = await service(
      {
        async ready() {
          if (!dbUp) throw new Error('database is down');
        },
      },
      { port: 0, drainDelayMs: 300 },
    );
    const ready = () => svc.app.inject({ method: 'GET', url: '/health/ready' });
    expect((await svc.app.inject({ method: 'GET', url: '/health/live' })).json()).toEqual({ status: 'ok' });
    expect((await ready()).statusCode).toBe(503);
    await svc.start();
    expect((await ready()).statusCode).toBe(200);
    dbUp = false;
    const notReady = await ready();
    expect(notReady.statusCode).toBe(503);
    expect(notReady.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(notReady.body).not.toContain('database is down');
    dbUp = true;
    const stopping = svc.stop();
    await new Promise((r) => setTimeout(r, 50)); // inside the drain delay: still listening
    const draining = await ready();
    expect(draining.statusCode).toBe(503);
    expect(draining.json()).toMatchObject({ type: 'urn:meshkit:problem:service-draining' });
    expect((await svc.app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ status: 'draining' });
    await stopping;
  });

  it('serves the definition routes with the shared base', async () => {
    const svc = await service({
      routes(app) {
        app.post('/echo', { schema: { body: Type.Object({ n: Type.Integer() }, { additionalProperties: false }) } }, async (r) => r.body);
      },
    });
    expect((await svc.app.inject({ method: 'POST', url: '/echo', payload: { n: 1 } })).json()).toEqual({ n: 1 });
    expect((await svc.app.inject({ method: 'POST', url: '/echo', payload: { n: '1' } })).statusCode).toBe(400);
  });
});

describe('lifecycle with a registry', () => {
  it('registers on start with its instance facts', async () => {
    const reg = registry();
    const svc = await service({ version: '1.2.3' }, { port: 0, registry: reg, tags: ['blue'], meta: { zone: 'a' }, weight: 3 });
    await svc.start();
    const [instance, ...others] = await reg.instances('test-service');
    expect(others).toEqual([]);
    expect(instance).toMatchObject({
      id: svc.instance.id,
      service: 'test-service',
      version: '1.2.3',
      host: '127.0.0.1',
      port: svc.instance.port,
      weight: 3,
      tags: ['blue'],
      meta: { pid: String(process.pid), zone: 'a' },
      status: 'healthy',
    });
  });

  it('stops gracefully: draining, deregistered, in-flight request finished, then closed', async () => {
    const reg = registry();
    const order: string[] = [];
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const svc = await service(
      {
        routes(app) {
          app.get('/slow', async () => {
            entered();
            await released;
            order.push('slow request finished');
            return { done: true };
          });
        },
        async close() {
          order.push('definition closed');
        },
      },
      { port: 0, registry: reg },
    );
    const events: RegistryEvent[] = [];
    reg.watch((e) => events.push(e));
    await svc.start();
    const port = svc.instance.port;

    const slow = fetch(`${svc.url}/slow`);
    await inHandler;
    const stopping = svc.stop();
    expect(svc.stop()).toBe(stopping); // idempotent, even while running
    await new Promise((r) => setTimeout(r, 100));
    expect(await reg.instances('test-service')).toEqual([]);
    expect(await refused(port)).toBe(true); // no new connections while the old one finishes
    release();
    const res = await slow;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
    await stopping;
    await svc.stop();
    expect(order).toEqual(['slow request finished', 'definition closed']);
    const mine = events.filter((e) => e.id === svc.instance.id);
    expect(mine.map((e) => (e.type === 'up' ? `up:${e.instance.status}` : 'down'))).toEqual([
      'up:healthy',
      'up:draining',
      'down',
    ]);
    expect(await refused(port)).toBe(true);
  });

  it('runs unregistered without a registry, and stop before start is harmless', async () => {
    const svc = await service();
    await svc.stop();
    const other = await service();
    await other.start();
    expect((await fetch(`${other.url}/health/live`)).status).toBe(200);
  });
});
