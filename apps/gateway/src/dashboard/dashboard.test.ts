import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceClient, type ServiceInstance, StaticInstanceSource } from '@meshkit/toolkit';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { testInstance } from '../../../../test/support/instances.js';
import { listenOnFreePort } from '../../../../test/support/listen.js';
import { createGateway } from '../gateway.js';
import { createGatewayApp } from '../main.js';
import type { DashboardView } from './wire.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real upstream answering 200 with a small JSON body, or `status` when the path says `/fail`. */
async function upstream(): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = req.url?.includes('/fail') ? 500 : 200;
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  });
  return listenOnFreePort(server, cleanups);
}


async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function snapshot(base: string): Promise<DashboardView> {
  const res = await get(`${base}/dashboard/snapshot`);
  expect(res.status).toBe(200);
  return JSON.parse(res.text) as DashboardView;
}

/** An SSE client on node:http: each `data:` message parsed, in order. */
function events(url: string): Promise<{
  response: IncomingMessage;
  next(timeoutMs?: number): Promise<DashboardView>;
  ended: Promise<void>;
  close(): void;
}> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (response) => {
      const queue: DashboardView[] = [];
      const waiting: ((v: DashboardView) => void)[] = [];
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data !== undefined) {
            const view = JSON.parse(data.slice(6)) as DashboardView;
            const w = waiting.shift();
            if (w) w(view);
            else queue.push(view);
          }
          end = buffer.indexOf('\n\n');
        }
      });
      const ended = new Promise<void>((r) => response.once('close', () => r()));
      resolve({
        response,
        ended,
        next(timeoutMs = 3000) {
          const queued = queue.shift();
          if (queued) return Promise.resolve(queued);
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
            waiting.push((v) => {
              clearTimeout(timer);
              res(v);
            });
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

describe('the dashboard data', () => {
  it('shows every service and instance with its figures, and the recent requests with their ids', async () => {
    const [p1, p2, u1] = await Promise.all([upstream(), upstream(), upstream()]);
    const products = [p1, p2].map((port) => testInstance('product-service', port, { meta: { pid: '4242' } }));
    const users = testInstance('user-service', u1);
    const source = new StaticInstanceSource([...products, users]);
    const gw = await createGatewayApp({ source, port: 0, logger: false, retry: { maxAttempts: 1 } });
    await gw.start();
    cleanups.push(() => gw.stop());

    for (let k = 0; k < 6; k++) expect((await get(`${gw.url}/products?secret=${k}`)).status).toBe(200);
    expect((await get(`${gw.url}/users/fail`, { 'x-request-id': 'req-fail-1' })).status).toBe(500);
    expect((await get(`${gw.url}/orders/1`)).status).toBe(503); // no order-service at all

    const view = await snapshot(gw.url);
    expect(view.window_s).toBe(10);
    expect(view.services.map((s) => s.name)).toEqual(['product-service', 'user-service']);
    const shown = view.services[0]!.instances;
    expect(shown.map((i) => i.id).sort()).toEqual(products.map((p) => p.id).sort());
    for (const i of shown) {
      expect(i).toMatchObject({ status: 'healthy', circuit: 'closed', in_flight: 0, ejected: false, pid: '4242', requests: 3 });
      expect(i.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(i.req_per_s).toBeGreaterThan(0);
      expect(i.p50_ms).toBeGreaterThan(0);
      expect(i.p99_ms).toBeGreaterThanOrEqual(i.p50_ms!);
      expect(i.error_rate).toBe(0);
    }
    expect(view.services[1]!.instances[0]).toMatchObject({ id: users.id, requests: 1, error_rate: 1 });

    expect(view.recent).toHaveLength(8);
    const [noInstance, failed, lastProduct] = view.recent;
    expect(noInstance).toMatchObject({ method: 'GET', path: '/orders/1', status: 503, service: 'order-service', instance: null });
    expect(failed).toMatchObject({ request_id: 'req-fail-1', path: '/users/fail', status: 500, instance: users.id });
    expect(lastProduct).toMatchObject({ method: 'GET', path: '/products', status: 200, service: 'product-service' });
    expect(products.map((p) => p.id)).toContain(lastProduct!.instance);
    expect(JSON.stringify(view.recent)).not.toContain('secret'); // query strings stay off the screen
    // The gateway's own paths are not proxied requests.
    expect(view.recent.some((r) => r.path.startsWith('/dashboard'))).toBe(false);
  });

  it('streams the view every second and at once when an instance leaves; stop ends the stream', async () => {
    const [p1, p2] = await Promise.all([upstream(), upstream()]);
    const [a, b] = [testInstance('product-service', p1), testInstance('product-service', p2)];
    const source = new StaticInstanceSource([a, b]);
    const gw = await createGatewayApp({ source, port: 0, logger: false });
    await gw.start();
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : gw.stop()));

    const stream = await events(`${gw.url}/dashboard/events`);
    cleanups.push(() => stream.close());
    expect(stream.response.statusCode).toBe(200);
    expect(stream.response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.response.headers['x-request-id']).toBeTruthy();
    const first = await stream.next();
    expect(first.services[0]!.instances.map((i) => i.id).sort()).toEqual([a.id, b.id].sort());

    const t0 = Date.now();
    const second = await stream.next(2500);
    expect(Date.now() - t0).toBeLessThan(2500); // the regular tick

    source.remove(b.id);
    const changedAt = Date.now();
    let after = await stream.next();
    while (after.services[0]!.instances.length !== 1) after = await stream.next();
    // Pushed on the change (coalesced for 50 ms), not at the next tick.
    expect(Date.now() - changedAt).toBeLessThan(900);
    expect(after.services[0]!.instances.map((i) => i.id)).toEqual([a.id]);
    expect(second.at).toBeGreaterThanOrEqual(first.at);

    const stopping = Date.now();
    await gw.stop();
    stopped = true;
    await stream.ended;
    expect(Date.now() - stopping).toBeLessThan(5000); // not the 72 s keep-alive, nor forever
  });
});

describe('the dashboard page', () => {
  async function gatewayWithUi(dashboardDir: string) {
    const source = new StaticInstanceSource([]);
    const client = new ServiceClient({ source });
    cleanups.push(() => client.close());
    const gw = await createGateway({ client, port: 0, logger: false, dashboardDir });
    await gw.start();
    cleanups.push(() => gw.stop());
    return gw;
  }

  it('serves the built page and its assets, and nothing outside them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-ui-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'no');
    const gw = await gatewayWithUi(dir);

    for (const path of ['/dashboard', '/dashboard/']) {
      const page = await get(`${gw.url}${path}`);
      expect(page.status, path).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.text).toContain('<title>t</title>');
    }
    const js = await get(`${gw.url}/dashboard/assets/index-abc123.js`);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toContain('immutable');

    for (const path of [
      '/dashboard/assets/missing.js',
      '/dashboard/assets/..%2Fsecret.txt',
      '/dashboard/assets/.hidden.js',
      '/dashboard/secret.txt',
      '/dashboard/assets/index-abc123.exe',
    ]) {
      const res = await get(`${gw.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers['content-type'], path).toMatch(/^application\/problem\+json/);
    }
  });

  it('answers 503 problem+json saying how to build the UI when it is not built', async () => {
    const gw = await gatewayWithUi(join(tmpdir(), `meshkit-no-ui-${randomUUID()}`));
    const res = await get(`${gw.url}/dashboard`);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.text)).toMatchObject({ status: 503, detail: expect.stringMatching(/npm run build/) });
    // The data routes work without the UI.
    expect((await get(`${gw.url}/dashboard/snapshot`)).status).toBe(200);
  });

  it('stays out of the gateway’s API document', async () => {
    const gw = await gatewayWithUi(join(tmpdir(), `meshkit-no-ui-${randomUUID()}`));
    const res = await get(`${gw.url}/docs/json`);
    expect(res.status).toBe(200);
    const paths = Object.keys((JSON.parse(res.text) as { paths: Record<string, unknown> }).paths);
    expect(paths).toContain('/registry');
    expect(paths.filter((p) => p.startsWith('/dashboard'))).toEqual([]);
  });

  it('keeps /dashboard the gateway’s own: no route may take it over', async () => {
    const client = new ServiceClient({ source: new StaticInstanceSource([]) });
    cleanups.push(() => client.close());
    for (const prefix of ['/dashboard', '/dashboard/x']) {
      const taken = createGateway({ client, port: 0, logger: false, routes: [{ prefix, service: 's' }] });
      await expect(taken).rejects.toThrow(/collides/);
    }
  });
});
