import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricValue, type ServiceInstance, StaticInstanceSource } from '@meshkit/toolkit';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { mergeDocuments } from './api-docs.js';
import { createGatewayApp } from './main.js';
import type { GatewayHandle } from './gateway.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real HTTP server answering `status()` to everything, registered as one user-service instance. */
async function userService(status: () => number): Promise<ServiceInstance> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status(), { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    id: randomUUID(),
    service: 'user-service',
    version: '1.0.0',
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    weight: 1,
    tags: [],
    meta: {},
    status: 'healthy',
    registeredAt: 0,
    lastHeartbeat: 0,
  };
}

async function gateway(source: StaticInstanceSource): Promise<GatewayHandle> {
  const gw = await createGatewayApp({
    source,
    port: 0,
    logger: false,
    breaker: { threshold: 3, openMs: 60_000 },
    retry: { maxAttempts: 1 },
  });
  await gw.start();
  cleanups.push(() => gw.stop());
  return gw;
}

async function get(base: string, path: string): Promise<{ status: number; text: string }> {
  const res = await request(new URL(path, base));
  return { status: res.statusCode, text: await res.body.text() };
}

describe('gateway /metrics', () => {
  it('shows the proxied request by route template and the upstream series of the instance that answered', async () => {
    const instance = await userService(() => 200);
    const gw = await gateway(new StaticInstanceSource([instance]));
    expect((await get(gw.url, `/users/${randomUUID()}`)).status).toBe(200);

    const { status, text } = await get(gw.url, '/metrics');
    expect(status).toBe(200);
    const of = { service: 'user-service', instance: instance.id };
    expect(metricValue(text, 'http_requests_total', { method: 'GET', route: '/users/*', status_code: '200' })).toBe(1);
    expect(metricValue(text, 'meshkit_upstream_requests_total', { ...of, status_class: '2xx' })).toBe(1);
    expect(metricValue(text, 'meshkit_upstream_request_duration_seconds_count', of)).toBe(1);
    expect(metricValue(text, 'meshkit_upstream_in_flight', of)).toBe(0);
    expect(metricValue(text, 'meshkit_upstream_circuit_state', { ...of, state: 'closed' })).toBe(1);
    expect(metricValue(text, 'meshkit_upstream_calls_total', { service: 'user-service' })).toBe(1);
    expect(metricValue(text, 'meshkit_registry_instances', { service: 'user-service', status: 'healthy' })).toBe(1);
  });

  it("shows the instance's breaker open after failures, and the 503s that followed", async () => {
    const instance = await userService(() => 500);
    const gw = await gateway(new StaticInstanceSource([instance]));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await get(gw.url, '/users')).status);
    expect(statuses).toEqual([500, 500, 500, 503, 503]);

    const { text } = await get(gw.url, '/metrics');
    const of = { service: 'user-service', instance: instance.id };
    expect(metricValue(text, 'meshkit_upstream_circuit_state', { ...of, state: 'open' })).toBe(1);
    expect(metricValue(text, 'meshkit_upstream_circuit_state', { ...of, state: 'closed' })).toBe(0);
    expect(metricValue(text, 'meshkit_upstream_requests_total', { ...of, status_class: '5xx' })).toBe(3);
    expect(metricValue(text, 'http_requests_total', { route: '/users', status_code: '503' })).toBe(2);
  });
});

describe('mergeDocuments', () => {
  const own = { openapi: '3.1.0', info: { title: 'gw', version: '1' }, paths: { '/': { get: {} } } };
  const routes = [
    { prefix: '/users', service: 'user-service' },
    { prefix: '/products', service: 'product-service' },
  ];

  it('keeps only the paths each service owns, tags them, and prefixes colliding schema names', () => {
    const users = {
      openapi: '3.1.0',
      info: { title: 'users', version: '1' },
      paths: {
        '/users/{id}': { get: { responses: { 200: { $ref: '#/components/schemas/Item' } } } },
        '/products': { get: {} },
      },
      components: { schemas: { Item: { type: 'string' }, Same: { type: 'integer' } } },
    };
    const products = {
      openapi: '3.1.0',
      info: { title: 'products', version: '1' },
      paths: { '/products/{id}': { get: { tags: ['catalogue'], schema: { $ref: '#/components/schemas/Item' } } } },
      components: { schemas: { Item: { type: 'number' }, Same: { type: 'integer' } } },
    };
    const merged = mergeDocuments(
      own,
      [
        { service: 'user-service', document: users },
        { service: 'product-service', document: products },
      ],
      routes,
      ['order-service'],
    );
    expect(Object.keys(merged.paths ?? {})).toEqual(['/', '/users/{id}', '/products/{id}']);
    expect(merged.paths?.['/users/{id}']?.get).toMatchObject({ tags: ['user-service'] });
    expect(merged.paths?.['/products/{id}']?.get).toEqual({
      tags: ['catalogue'],
      schema: { $ref: '#/components/schemas/product-service.Item' },
    });
    expect(merged.components?.schemas).toEqual({
      Item: { type: 'string' },
      Same: { type: 'integer' },
      'product-service.Item': { type: 'number' },
    });
    expect(merged['x-meshkit-missing']).toEqual(['order-service']);
    expect(merged.info.description).toContain('order-service');
  });
});
