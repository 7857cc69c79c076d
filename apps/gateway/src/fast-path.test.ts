import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import {
  createLogger,
  createServiceApp,
  installEdge,
  parseMetricSamples,
  ServiceClient,
  type ServiceInstance,
  StaticInstanceSource,
  systemClock,
} from '@meshkit/toolkit';
import { Agent, type Dispatcher, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { testInstance } from '../../../test/support/instances.js';
import { listenOnFreePort } from '../../../test/support/listen.js';
import { type FastPath, fastPath, type ServedRequest } from './fast-path.js';
import { defaultRoutes } from './route-table.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const listen = (server: http.Server) => listenOnFreePort(server, cleanups);

/** An upstream that echoes what it saw of each request. */
async function upstream(): Promise<{ instance: ServiceInstance; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const port = await listen(
    http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes', connection: 'keep-alive' });
      res.end(JSON.stringify({ url: req.url }));
    }),
  );
  const instance = testInstance('product-service', port);
  return { instance, seen };
}

/**
 * The fast path in front of a stand-in for Fastify that answers 599 "fallback": what it takes,
 * and what it leaves to the full path.
 */
async function front(instances: ServiceInstance[], enabled = () => true) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const app = createServiceApp({ logger: createLogger({ destination }), logBindings: { service: 'api-gateway' } });
  cleanups.push(() => app.close());
  const client = new ServiceClient({ source: new StaticInstanceSource(instances) });
  cleanups.push(() => client.close());
  const served: ServedRequest[] = [];
  const take: FastPath = fastPath({
    client,
    routes: defaultRoutes,
    clock: systemClock,
    log: app.log,
    metrics: app.httpMetrics,
    enabled,
    draining: () => false,
    onServed: (s) => served.push(s),
  });
  // What it does not take goes to Node's server behind the edge.
  const server = http.createServer((_req, res) => res.writeHead(599).end('fallback'));
  installEdge(server, { front: { take }, keepAliveMs: 5000 });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, lines, served, metrics: () => app.metrics.metrics() };
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** On a new connection, closed after the answer. */
  fresh?: boolean;
  dispatcher?: Dispatcher;
}

async function send(url: string, options: SendOptions = {}) {
  const dispatcher = options.fresh === true ? new Agent() : options.dispatcher;
  const res = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers,
    body: options.body,
    ...(dispatcher === undefined ? {} : { dispatcher }),
  });
  const answer = { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  if (options.fresh === true) await dispatcher?.close();
  return answer;
}

describe('the gateway fast path', () => {
  it('relays a plain GET with request id, forwarded headers and trace context, and counts it like the full path', async () => {
    const up = await upstream();
    const gw = await front([up.instance]);
    const res = await send(`${gw.url}/products/42?x=1`, { headers: { 'x-request-id': 'fast-1' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ url: '/products/42?x=1' });
    expect(res.headers).toMatchObject({ 'x-request-id': 'fast-1', 'x-upstream': 'yes', 'content-type': 'application/json' });

    const seen = up.seen[0] as IncomingHttpHeaders;
    expect(seen['x-request-id']).toBe('fast-1');
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(Number(seen['x-request-timeout-ms'])).toBeGreaterThan(0);

    const samples = parseMetricSamples(await gw.metrics());
    const counted = samples.find((s) => s.name === 'http_requests_total' && s.labels.route === '/products/*');
    expect(counted).toMatchObject({ labels: { method: 'GET', status_code: '200' }, value: 1 });
    expect(gw.lines.find((l) => l.msg === 'request completed')).toMatchObject({
      reqId: 'fast-1',
      service: 'api-gateway',
      method: 'GET',
      path: '/products/42',
      route: '/products/*',
      statusCode: 200,
    });
    expect(gw.served).toEqual([
      expect.objectContaining({ id: 'fast-1', service: 'product-service', status: 200, instanceId: up.instance.id }),
    ]);
  });

  it('a client that stops reading pauses the upstream, and still gets the whole body when it reads on', async () => {
    const chunk = Buffer.alloc(256 * 1024, 'x');
    const chunks = 256; // 64 MiB: far more than the sockets' kernel buffers on the way hold
    let written = 0;
    const port = await listen(
      http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length * chunks) });
        let sent = 0;
        const pump = () => {
          while (sent < chunks) {
            sent += 1;
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      }),
    );
    const { url } = await front([testInstance('product-service', port)]);
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    cleanups.push(async () => socket.destroy());
    socket.pause();
    socket.write('GET /products/big HTTP/1.1\r\nHost: gateway\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Only what the kernel buffers between the three processes (a few MiB each way) went out.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan((chunk.length * chunks * 3) / 4);

    let received = 0;
    let head = '';
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (data: Buffer) => {
        if (!head.endsWith('\r\n\r\n')) {
          const text = data.toString('latin1');
          const end = (head + text).indexOf('\r\n\r\n');
          if (end < 0) return void (head += text);
          received += data.length - (end + 4 - head.length);
          head = (head + text).slice(0, end + 4);
        } else {
          received += data.length;
        }
        if (received >= chunk.length * chunks) resolve();
      });
      socket.on('error', reject);
      socket.resume();
    });
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toBe(chunk.length * chunks);
    expect(written).toBe(chunk.length * chunks);
  });

  it('answers for a missing service or a spent deadline with problem+json, and HEAD too', async () => {
    const gw = await front([]);
    const none = await send(`${gw.url}/products/1`, { headers: { 'x-request-id': 'none' } });
    expect(none.status).toBe(503);
    expect(none.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(none.headers['retry-after']).toBe('1');
    expect(none.headers['x-request-id']).toBe('none');
    expect(JSON.parse(none.text)).toMatchObject({ status: 503, instance: '/products/1' });

    const up = await upstream();
    const gw2 = await front([up.instance]);
    const spent = await send(`${gw2.url}/products/1`, { headers: { 'x-request-timeout-ms': '0' } });
    expect(spent.status).toBe(504);
    expect(up.seen).toHaveLength(0);
    const head = await send(`${gw2.url}/products/1`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });

  it('leaves bodies, other methods, CORS, dot segments, unrouted paths and a disabled path to Fastify', async () => {
    const up = await upstream();
    let on = true;
    const gw = await front([up.instance], () => on);
    const fallback = [
      await send(`${gw.url}/products`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }),
      await send(`${gw.url}/products/1`, { method: 'DELETE' }),
      await send(`${gw.url}/products/1`, { headers: { origin: 'https://shop.example' } }),
      await send(`${gw.url}/products/%2e%2e/internal`),
      await send(`${gw.url}/nowhere`),
      await send(`${gw.url}/productsX`),
    ];
    for (const res of fallback) expect(res.status).toBe(599);
    // Each on a connection of its own: one the edge handed to Node stays Node's (the next test).
    expect((await send(`${gw.url}/products`, { fresh: true })).status).toBe(200);
    on = false;
    expect((await send(`${gw.url}/products`, { fresh: true })).status).toBe(599);
    expect(up.seen).toHaveLength(1);
  });

  it('leaves a connection to Fastify for good once it carried a request the fast path did not take', async () => {
    const up = await upstream();
    const gw = await front([up.instance]);
    const agent = new Agent({ connections: 1 });
    cleanups.push(() => agent.close());
    const on = { dispatcher: agent };
    expect((await send(`${gw.url}/products/1`, on)).status).toBe(200);
    expect((await send(`${gw.url}/products/1`, { ...on, method: 'DELETE' })).status).toBe(599);
    expect((await send(`${gw.url}/products/1`, on)).status).toBe(599);
    expect(up.seen).toHaveLength(1);
  });
});
