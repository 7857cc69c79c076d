import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { testInstance } from '../../../../test/support/instances.js';
import { ServiceClient, type ServiceClientOptions, type UpstreamAttempt } from '../client/service-client.js';
import { StaticInstanceSource } from '../discovery/instance-source.js';
import type { InstanceStatus, ServiceInstance } from '../registry/instance.js';
import { registerClientMetrics, registerRegistryMetrics, UpstreamMetrics } from './client-metrics.js';
import { metricValue, parseMetricSamples } from './prometheus-text.js';

const SERVICE = 'product-service';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function instance(port: number, status: InstanceStatus = 'healthy', service = SERVICE): ServiceInstance {
  return testInstance(service, port, { status });
}

/** A real HTTP server answering every request with `status`, or holding it while `hold` is set. */
async function upstream(status: number): Promise<{ instance: ServiceInstance; held: http.ServerResponse[]; hold: boolean }> {
  const up = { instance: instance(0), held: [] as http.ServerResponse[], hold: false };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (up.hold) up.held.push(res);
      else res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.instance.port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return up;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function client(source: StaticInstanceSource, options: Partial<ServiceClientOptions> = {}): ServiceClient {
  const c = new ServiceClient({ source, ...options });
  cleanups.push(() => c.close());
  return c;
}

describe('onAttempt', () => {
  it('hears every attempt: status, duration and instance; the error code when no status came', async () => {
    const ok = await upstream(200);
    const failing = await upstream(503);
    const gone = instance(await closedPort());
    const attempts: UpstreamAttempt[] = [];
    const source = new StaticInstanceSource([ok.instance]);
    const c = client(source, { onAttempt: (a) => attempts.push(a), retry: { maxAttempts: 1 } });
    await c.call(SERVICE, { method: 'GET', path: '/a' });
    source.remove(ok.instance.id);
    source.add(failing.instance);
    await c.call(SERVICE, { method: 'GET', path: '/b' });
    source.remove(failing.instance.id);
    source.add(gone);
    await expect(c.call(SERVICE, { method: 'GET', path: '/c' })).rejects.toThrow();

    expect(attempts.map((a) => [a.instance.id, a.status, a.error])).toEqual([
      [ok.instance.id, 200, undefined],
      [failing.instance.id, 503, undefined],
      [gone.id, undefined, 'ECONNREFUSED'],
    ]);
    for (const a of attempts) {
      expect(a.service).toBe(SERVICE);
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('a hook that throws does not fail the request', async () => {
    const ok = await upstream(200);
    const c = client(new StaticInstanceSource([ok.instance]), {
      onAttempt: () => {
        throw new Error('bad hook');
      },
    });
    expect((await c.call(SERVICE, { method: 'GET', path: '/' })).status).toBe(200);
  });
});

describe('registerClientMetrics', () => {
  it("shows each instance's attempts, latency, breaker state and ejections, and the service's retries", async () => {
    const ok = await upstream(200);
    const failing = await upstream(503);
    const metrics = new UpstreamMetrics();
    const c = client(new StaticInstanceSource([ok.instance, failing.instance]), {
      onAttempt: metrics.onAttempt,
      breaker: { threshold: 2, openMs: 60_000 },
      outlier: { consecutive5xx: 2 },
      retry: { maxAttempts: 2 },
    });
    const registry = new Registry();
    registerClientMetrics(registry, c, metrics);
    for (let i = 0; i < 6; i += 1) expect((await c.call(SERVICE, { method: 'GET', path: '/' })).status).toBe(200);

    const text = await registry.metrics();
    const at = (name: string, labels: Record<string, string>) => metricValue(text, name, { service: SERVICE, ...labels });
    const [stats] = c.stats();
    const snapshot = c.snapshot()[0]?.instances ?? [];
    const bad = snapshot.find((i) => i.instance.id === failing.instance.id);
    expect(bad?.circuit).toBe('open');
    expect(at('meshkit_upstream_circuit_state', { instance: failing.instance.id, state: 'open' })).toBe(1);
    expect(at('meshkit_upstream_circuit_state', { instance: failing.instance.id, state: 'closed' })).toBe(0);
    expect(at('meshkit_upstream_circuit_state', { instance: ok.instance.id, state: 'closed' })).toBe(1);
    expect(at('meshkit_upstream_ejected', { instance: failing.instance.id })).toBe(bad?.ejected ? 1 : 0);
    expect(at('meshkit_upstream_ejections_total', { instance: failing.instance.id })).toBe(bad?.ejections);
    expect(at('meshkit_upstream_in_flight', { instance: ok.instance.id })).toBe(0);

    const okAttempts = at('meshkit_upstream_requests_total', { instance: ok.instance.id, status_class: '2xx' });
    const badAttempts = at('meshkit_upstream_requests_total', { instance: failing.instance.id, status_class: '5xx' });
    expect(okAttempts).toBe(6);
    expect(badAttempts).toBeGreaterThanOrEqual(2);
    expect((okAttempts ?? 0) + (badAttempts ?? 0)).toBe((stats?.requests ?? 0) + (stats?.retries ?? 0));
    expect(at('meshkit_upstream_calls_total', {})).toBe(6);
    expect(at('meshkit_upstream_retries_total', {})).toBe(stats?.retries);
    expect(stats?.retries).toBeGreaterThanOrEqual(2);
    expect(at('meshkit_upstream_request_duration_seconds_count', { instance: ok.instance.id })).toBe(6);
  });

  it('counts retries the budget refused, and connection errors as status class "error"', async () => {
    const failing = await upstream(503);
    const gone = instance(await closedPort());
    const metrics = new UpstreamMetrics();
    const source = new StaticInstanceSource([failing.instance]);
    const c = client(source, {
      onAttempt: metrics.onAttempt,
      retry: { maxAttempts: 3, budget: { ratio: 0, minPerSecond: 0 } },
    });
    const registry = new Registry();
    registerClientMetrics(registry, c, metrics);
    expect((await c.call(SERVICE, { method: 'GET', path: '/' })).status).toBe(503);
    source.remove(failing.instance.id);
    source.add(gone);
    await expect(c.call(SERVICE, { method: 'GET', path: '/' })).rejects.toThrow();

    const text = await registry.metrics();
    expect(metricValue(text, 'meshkit_upstream_retry_budget_exhausted_total', { service: SERVICE })).toBe(2);
    expect(metricValue(text, 'meshkit_upstream_retries_total', { service: SERVICE })).toBe(0);
    expect(
      metricValue(text, 'meshkit_upstream_requests_total', { instance: gone.id, status_class: 'error' }),
    ).toBe(1);
  });

  it('shows requests in flight, and drops the series of an instance that left', async () => {
    const slow = await upstream(200);
    const metrics = new UpstreamMetrics();
    const source = new StaticInstanceSource([slow.instance]);
    const c = client(source, { onAttempt: metrics.onAttempt });
    const registry = new Registry();
    registerClientMetrics(registry, c, metrics);
    await c.call(SERVICE, { method: 'GET', path: '/' });
    slow.hold = true;
    const pending = c.call(SERVICE, { method: 'GET', path: '/' });
    const deadline = Date.now() + 2000;
    while (slow.held.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const during = await registry.metrics();
    expect(metricValue(during, 'meshkit_upstream_in_flight', { instance: slow.instance.id })).toBe(1);
    for (const res of slow.held.splice(0)) res.writeHead(200).end('{}');
    await pending;
    expect(metricValue(await registry.metrics(), 'meshkit_upstream_in_flight', { instance: slow.instance.id })).toBe(0);

    source.remove(slow.instance.id);
    const after = parseMetricSamples(await registry.metrics());
    expect(after.filter((s) => s.labels.instance === slow.instance.id)).toEqual([]);
  });
});

describe('registerRegistryMetrics', () => {
  it('counts instances per service and status, zeros included', async () => {
    const source = new StaticInstanceSource([
      instance(1, 'healthy'),
      instance(2, 'healthy'),
      instance(3, 'draining'),
      instance(4, 'starting', 'user-service'),
    ]);
    const registry = new Registry();
    registerRegistryMetrics(registry, source);
    const text = await registry.metrics();
    const count = (service: string, status: string) => metricValue(text, 'meshkit_registry_instances', { service, status });
    expect([count(SERVICE, 'healthy'), count(SERVICE, 'draining'), count(SERVICE, 'starting')]).toEqual([2, 1, 0]);
    expect([count('user-service', 'starting'), count('user-service', 'healthy')]).toEqual([1, 0]);
  });
});
