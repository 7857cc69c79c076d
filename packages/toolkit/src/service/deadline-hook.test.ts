import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../clock.js';
import { ServiceClient } from '../client/service-client.js';
import { StaticInstanceSource } from '../discovery/instance-source.js';
import { MeshError } from '../errors.js';
import type { ServiceInstance } from '../registry/instance.js';
import { defineService } from './define-service.js';
import type { ServiceDefinition, ServiceHandle, ServiceOptions } from './types.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function service(routes: ServiceDefinition['routes'], options: Partial<ServiceOptions> = {}): Promise<ServiceHandle> {
  const handle = await defineService({ name: 'front-service', routes }, { port: 0, logger: false, ...options });
  cleanups.push(() => handle.stop());
  return handle;
}

/** A downstream that records the `x-request-timeout-ms` it is sent and answers only after `answerAfterMs`. */
async function slowDownstream(answerAfterMs: number): Promise<{ instance: ServiceInstance; seen: string[] }> {
  const seen: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    seen.push(String(req.headers['x-request-timeout-ms']));
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.setHeader('content-type', 'application/json');
      res.end('{"slow":true}');
    }, answerAfterMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const t of timers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const now = Date.now();
  const instance: ServiceInstance = {
    id: randomUUID(),
    service: 'slow-service',
    version: '1.0.0',
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    weight: 1,
    tags: [],
    meta: {},
    status: 'healthy',
    registeredAt: now,
    lastHeartbeat: now,
  };
  return { instance, seen };
}

describe('request.meshkit: the caller deadline on the service side', () => {
  it('reads x-request-timeout-ms as an absolute deadline on the service clock; absent or nonsense is none', async () => {
    const clock = new ManualClock(1_000_000);
    const svc = await service(
      (app) => {
        app.get('/deadline', async (request) => ({
          deadline: request.meshkit.deadline ?? null,
          aborted: request.meshkit.signal.aborted,
        }));
      },
      { clock },
    );
    const ask = async (headers: Record<string, string>) =>
      (await svc.app.inject({ method: 'GET', url: '/deadline', headers })).json();
    expect(await ask({ 'x-request-timeout-ms': '2500' })).toEqual({ deadline: 1_002_500, aborted: false });
    expect(await ask({})).toEqual({ deadline: null, aborted: false });
    for (const nonsense of ['-1', '1.5', 'soon', '99999999999']) {
      expect(await ask({ 'x-request-timeout-ms': nonsense }), nonsense).toEqual({ deadline: null, aborted: false });
    }
  });

  it('answers 504 problem+json without running the handler when the caller has no time left', async () => {
    let ran = 0;
    const svc = await service((app) => {
      app.post('/work', async () => {
        ran += 1;
        return { done: true };
      });
    });
    const res = await svc.app.inject({
      method: 'POST',
      url: '/work',
      headers: { 'x-request-timeout-ms': '0', 'x-request-id': 'late-1' },
      payload: {},
    });
    expect(res.statusCode).toBe(504);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('late-1');
    expect(res.json()).toMatchObject({ status: 504, type: 'urn:meshkit:problem:upstream-timeout' });
    expect(res.json().detail).toMatch(/deadline had passed when the request arrived/);
    expect(ran).toBe(0);
    // With time left, the same request runs.
    const ok = await svc.app.inject({ method: 'POST', url: '/work', headers: { 'x-request-timeout-ms': '1000' }, payload: {} });
    expect(ok.statusCode).toBe(200);
    expect(ran).toBe(1);
  });

  it('aborts the signal when the deadline passes, with a 504 MeshError as reason', async () => {
    const svc = await service((app) => {
      app.get('/wait', async (request) => {
        const { signal } = request.meshkit;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        throw signal.reason;
      });
    });
    await svc.start();
    const started = performance.now();
    const res = await fetch(`${svc.url}/wait`, { headers: { 'x-request-timeout-ms': '200' } });
    const ms = performance.now() - started;
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ type: 'urn:meshkit:problem:upstream-timeout' });
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(2000);
  });

  it('aborts the signal when the caller hangs up, and not after a normal answer', async () => {
    const signals: AbortSignal[] = [];
    let hungUp!: (reason: unknown) => void;
    const gone = new Promise<unknown>((resolve) => {
      hungUp = resolve;
    });
    const svc = await service((app) => {
      app.get('/fast', async (request) => {
        signals.push(request.meshkit.signal);
        return { ok: true };
      });
      app.get('/hang', async (request) => {
        const { signal } = request.meshkit;
        signal.addEventListener('abort', () => hungUp(signal.reason), { once: true });
        await sleep(2000, undefined, { signal }).catch(() => undefined);
        return { late: true };
      });
    });
    await svc.start();
    expect((await fetch(`${svc.url}/fast`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(signals[0]?.aborted).toBe(false);

    const controller = new AbortController();
    const pending = fetch(`${svc.url}/hang`, { signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    await pending;
    const reason = await gone;
    expect(reason).toBeInstanceOf(MeshError);
    expect((reason as MeshError).message).toMatch(/closed the request/);
  });

  it('a handler that passes its deadline on: the downstream sees at most 300 ms, and the call is cut at ~300 ms with 504', async () => {
    const downstream = await slowDownstream(3000);
    const client = new ServiceClient({ source: new StaticInstanceSource([downstream.instance]), clock: systemClock });
    cleanups.push(() => client.close());
    const svc = await service((app) => {
      app.get('/front', async (request) => {
        const res = await client.call('slow-service', {
          method: 'GET',
          path: '/slow',
          ...(request.meshkit.deadline === undefined ? {} : { deadline: request.meshkit.deadline }),
        });
        return res.body;
      });
    });
    await svc.start();

    const started = performance.now();
    const res = await fetch(`${svc.url}/front`, { headers: { 'x-request-timeout-ms': '300' } });
    const ms = performance.now() - started;
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(1500); // not the downstream's 3 s, nor the client's 10 s per attempt
    expect(downstream.seen.length).toBeGreaterThanOrEqual(1);
    for (const header of downstream.seen) {
      expect(Number(header)).toBeGreaterThan(0);
      expect(Number(header)).toBeLessThanOrEqual(300);
    }
  });
});
