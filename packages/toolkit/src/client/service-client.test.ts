import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { StaticInstanceSource } from '../discovery/instance-source.js';
import { MeshError } from '../errors.js';
import type { ServiceInstance } from '../registry/instance.js';
import { ServiceClient, type ServiceClientOptions } from './service-client.js';

const SERVICE = 'product-service';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real HTTP server on 127.0.0.1:0 that records what reached it. */
class Upstream {
  readonly seen: Seen[] = [];
  readonly sockets = new Set<Socket>();
  /** Responses a test holds open; released (or ended) by the test or at cleanup. */
  readonly held: http.ServerResponse[] = [];
  handler: Handler = (_req, res) => json(res, 200, { id: this.instance.id });
  instance!: ServiceInstance;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      this.handler(req, res, body);
    });
  });

  async start(): Promise<this> {
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.instance = instanceAt(port);
    return this;
  }

  get port(): number {
    return this.instance.port;
  }

  /** Keeps the response open until `releaseAll()`. */
  hold(): void {
    this.handler = (_req, res) => {
      this.held.push(res);
    };
  }

  releaseAll(): void {
    for (const res of this.held.splice(0)) {
      if (res.headersSent) res.end();
      else json(res, 200, { id: this.instance.id, held: true });
    }
  }

  async stop(): Promise<void> {
    for (const res of this.held.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function instanceAt(port: number, status: ServiceInstance['status'] = 'healthy'): ServiceInstance {
  return {
    id: randomUUID(),
    service: SERVICE,
    version: '1.0.0',
    host: '127.0.0.1',
    port,
    weight: 1,
    tags: [],
    meta: {},
    status,
    registeredAt: 0,
    lastHeartbeat: 0,
  };
}

/** A port nothing listens on: a server was there and is gone. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor(condition: () => boolean, ms = 1000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rejection(p: Promise<unknown>): Promise<MeshError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MeshError);
    return err as MeshError;
  }
  throw new Error('expected a rejection');
}

const upstreams: Upstream[] = [];
const clients: ServiceClient[] = [];

async function servers(n: number): Promise<Upstream[]> {
  const started = await Promise.all(Array.from({ length: n }, () => new Upstream().start()));
  upstreams.push(...started);
  return started;
}

function clientOver(
  instances: ServiceInstance[],
  options: Omit<ServiceClientOptions, 'source'> = {},
): { client: ServiceClient; source: StaticInstanceSource } {
  const source = new StaticInstanceSource(instances);
  const client = new ServiceClient({ source, ...options });
  clients.push(client);
  return { client, source };
}

function circuitOf(client: ServiceClient, id: string) {
  const view = client.snapshot().find((s) => s.name === SERVICE);
  return view?.instances.find((i) => i.instance.id === id);
}

const get = (path = '/products') => ({ method: 'GET' as const, path });

afterEach(async () => {
  for (const u of upstreams) u.releaseAll();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(upstreams.splice(0).map((u) => u.stop()));
});

describe('ServiceClient over real HTTP servers', () => {
  it('round robin spreads calls evenly over three instances and parses JSON', async () => {
    const [a, b, c] = await servers(3);
    const { client } = clientOver([a!.instance, b!.instance, c!.instance]);
    const answered: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await client.call<{ id: string }>(SERVICE, get());
      expect(res.status).toBe(200);
      expect(res.body.id).toBe(res.instanceId);
      answered.push(res.instanceId);
    }
    expect(answered.slice(0, 3)).toEqual(answered.slice(3));
    expect(new Set(answered).size).toBe(3);
    for (const u of [a, b, c]) expect(u!.seen).toHaveLength(2);
  });

  it('sends object bodies as JSON and returns text and empty bodies as such', async () => {
    const [u] = await servers(1);
    u!.handler = (req, res, body) => {
      if (req.url === '/echo') return json(res, 201, { got: JSON.parse(body), type: req.headers['content-type'] });
      if (req.url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('plain words');
      }
      res.writeHead(204).end();
    };
    const { client } = clientOver([u!.instance]);
    const created = await client.call(SERVICE, { method: 'POST', path: '/echo', body: { name: 'lamp', price: 12.5 } });
    expect(created).toMatchObject({ status: 201, body: { got: { name: 'lamp', price: 12.5 }, type: 'application/json' } });
    expect((await client.call(SERVICE, get('/text'))).body).toBe('plain words');
    const empty = await client.call(SERVICE, { method: 'DELETE', path: '/x' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeUndefined();
  });

  it('five 5xx answers open that instance’s breaker and traffic goes to the others', async () => {
    const [a, bad, c] = await servers(3);
    bad!.handler = (_req, res) => json(res, 500, { error: 'boom' });
    const { client } = clientOver([a!.instance, bad!.instance, c!.instance]);
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await client.call(SERVICE, get())).status);
    // A 5xx resolves (it is an HTTP answer); the breaker is what reacts.
    expect(statuses.filter((s) => s === 500)).toHaveLength(5);
    expect(bad!.seen).toHaveLength(5);
    expect(circuitOf(client, bad!.instance.id)?.circuit).toBe('open');

    for (let i = 0; i < 10; i++) expect((await client.call(SERVICE, get())).status).toBe(200);
    expect(bad!.seen).toHaveLength(5);
    expect(a!.seen.length + c!.seen.length).toBe(20);
  });

  it('all breakers open: 503 with Retry-After and no request reaches the network', async () => {
    const [a, b] = await servers(2);
    for (const u of [a, b]) u!.handler = (_req, res) => json(res, 503, {});
    const clock = new ManualClock(5_000_000);
    const { client } = clientOver([a!.instance, b!.instance], { clock, breaker: { threshold: 2 } });
    for (let i = 0; i < 4; i++) await client.call(SERVICE, get());
    expect(a!.seen.length + b!.seen.length).toBe(4);

    clock.advance(30_500);
    const err = await rejection(client.call(SERVICE, get()));
    expect(err.code).toBe('NO_HEALTHY_INSTANCE');
    expect(err.status).toBe(503);
    expect(err.retryAfter).toBe(30);
    await expect(client.dispatch(SERVICE, { method: 'GET', path: '/', headers: {} })).rejects.toMatchObject({
      code: 'NO_HEALTHY_INSTANCE',
    });
    expect(a!.seen.length + b!.seen.length).toBe(4);

    // After 60 s one probe goes through; its success closes that instance's circuit.
    clock.advance(30_000);
    a!.handler = (_req, res) => json(res, 200, { ok: true });
    b!.handler = a!.handler;
    const probe = await client.call(SERVICE, get());
    expect(probe.status).toBe(200);
    expect(circuitOf(client, probe.instanceId)?.circuit).toBe('closed');
  });

  it('no healthy instance at all: 503 with Retry-After 1', async () => {
    const [u] = await servers(1);
    const { client } = clientOver([{ ...u!.instance, status: 'draining' }]);
    const err = await rejection(client.call(SERVICE, get()));
    expect(err).toMatchObject({ code: 'NO_HEALTHY_INSTANCE', retryAfter: 1 });
    expect((await rejection(client.call('unknown-service', get()))).code).toBe('NO_HEALTHY_INSTANCE');
    expect(u!.seen).toHaveLength(0);
  });

  it('a closed port among the instances: every call succeeds elsewhere, and its breaker counts', async () => {
    const [a, b] = await servers(2);
    const dead = instanceAt(await closedPort());
    const logged: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => logged.push(line) });
    const { client } = clientOver([a!.instance, dead, b!.instance], { breaker: { threshold: 3 }, logger });
    for (let i = 0; i < 12; i++) {
      const res = await client.call(SERVICE, { method: 'POST', path: '/orders', body: { n: i } });
      expect(res.status).toBe(200);
      expect(res.instanceId).not.toBe(dead.id);
    }
    expect(a!.seen.length + b!.seen.length).toBe(12);
    expect(circuitOf(client, dead.id)?.circuit).toBe('open');
    expect(logged.some((l) => l.includes('circuit breaker opened') && l.includes(dead.id))).toBe(true);
  });

  it('a lone instance refusing connections: 502 UPSTREAM_FAILED', async () => {
    const dead = instanceAt(await closedPort());
    const { client } = clientOver([dead]);
    const err = await rejection(client.call(SERVICE, get()));
    expect(err).toMatchObject({ code: 'UPSTREAM_FAILED', status: 502 });
  });

  it('a streamed request body is not replayed on another instance', async () => {
    const [live] = await servers(1);
    const dead = instanceAt(await closedPort());
    const { client } = clientOver([dead, live!.instance]);
    const err = await rejection(
      client.dispatch(SERVICE, { method: 'POST', path: '/orders', headers: {}, body: Readable.from(['{}']) }),
    );
    expect(err.code).toBe('UPSTREAM_FAILED');
    expect(live!.seen).toHaveLength(0);
  });

  it('a caller abort rejects without counting against the instance', async () => {
    const [u] = await servers(1);
    u!.hold();
    const { client } = clientOver([u!.instance], { breaker: { threshold: 1 } });
    const controller = new AbortController();
    const pending = client.dispatch(SERVICE, { method: 'GET', path: '/', headers: {}, signal: controller.signal });
    await waitFor(() => u!.held.length === 1);
    controller.abort();
    expect((await rejection(pending)).code).toBe('UPSTREAM_FAILED');
    expect(circuitOf(client, u!.instance.id)).toMatchObject({ circuit: 'closed', inFlight: 0 });
  });

  it('a connection broken after sending is not retried: 502 from the one instance', async () => {
    const [a, b] = await servers(2);
    a!.handler = (req) => req.socket.destroy();
    b!.handler = a!.handler;
    const { client } = clientOver([a!.instance, b!.instance]);
    const err = await rejection(client.call(SERVICE, { method: 'POST', path: '/orders', body: {} }));
    expect(err.code).toBe('UPSTREAM_FAILED');
    expect(a!.seen.length + b!.seen.length).toBe(1);
  });

  it('a slow instance: UPSTREAM_TIMEOUT after the per-attempt timeout', async () => {
    const [u] = await servers(1);
    u!.hold();
    const { client } = clientOver([u!.instance], { requestTimeoutMs: 5000 });
    const err = await rejection(client.call(SERVICE, { ...get(), timeoutMs: 200 }));
    expect(err).toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    expect(circuitOf(client, u!.instance.id)?.inFlight).toBe(0);
  });

  it('the client-wide request timeout applies when the request names none', async () => {
    const [u] = await servers(1);
    u!.hold();
    const { client } = clientOver([u!.instance], { requestTimeoutMs: 200 });
    expect((await rejection(client.call(SERVICE, get()))).code).toBe('UPSTREAM_TIMEOUT');
  });

  it('a 404 is an answer, not a failure', async () => {
    const [u] = await servers(1);
    u!.handler = (_req, res) => json(res, 404, { title: 'Not Found' });
    const { client } = clientOver([u!.instance], { breaker: { threshold: 1 } });
    for (let i = 0; i < 3; i++) expect((await client.call(SERVICE, get('/products/nope'))).status).toBe(404);
    expect(u!.seen).toHaveLength(3);
    expect(circuitOf(client, u!.instance.id)?.circuit).toBe('closed');
  });

  it('x-request-id and traceparent reach the server', async () => {
    const [u] = await servers(1);
    const { client } = clientOver([u!.instance]);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await client.call(SERVICE, { ...get(), requestId: 'req-1', traceparent });
    await client.call(SERVICE, { ...get(), headers: { 'X-Request-Id': 'from-header' }, requestId: 'ignored' });
    expect(u!.seen[0]?.headers['x-request-id']).toBe('req-1');
    expect(u!.seen[0]?.headers.traceparent).toBe(traceparent);
    expect(u!.seen[1]?.headers['x-request-id']).toBe('from-header');
  });

  it('in-flight goes up during a slow request and back to 0 after', async () => {
    const [u] = await servers(1);
    u!.hold();
    const { client } = clientOver([u!.instance]);
    const pending = client.call(SERVICE, get());
    await waitFor(() => u!.held.length === 1);
    expect(circuitOf(client, u!.instance.id)?.inFlight).toBe(1);
    u!.releaseAll();
    expect((await pending).status).toBe(200);
    expect(circuitOf(client, u!.instance.id)?.inFlight).toBe(0);
  });

  it('least_connections avoids a busy instance', async () => {
    const [a, b] = await servers(2);
    for (const u of [a, b]) {
      u!.handler = (req, res) => {
        if (req.url === '/slow') u!.held.push(res);
        else json(res, 200, { id: u!.instance.id });
      };
    }
    const { client } = clientOver([a!.instance, b!.instance], { strategy: 'least_connections' });
    const slow = client.call(SERVICE, get('/slow'));
    await waitFor(() => a!.held.length + b!.held.length === 1);
    const busy = a!.held.length === 1 ? a! : b!;
    for (let i = 0; i < 5; i++) {
      expect((await client.call(SERVICE, get('/fast'))).instanceId).not.toBe(busy.instance.id);
    }
    busy.releaseAll();
    await slow;
  });

  it('consistent_hash keeps a key on one instance', async () => {
    const all = await servers(3);
    const { client } = clientOver(
      all.map((u) => u.instance),
      { strategies: { [SERVICE]: 'consistent_hash' } },
    );
    const owners = new Set<string>();
    for (let i = 0; i < 10; i++) owners.add((await client.call(SERVICE, { ...get(), key: 'user-7' })).instanceId);
    expect(owners.size).toBe(1);
    const spread = new Set<string>();
    for (let k = 0; k < 30; k++) spread.add((await client.call(SERVICE, { ...get(), key: `user-${k}` })).instanceId);
    expect(spread.size).toBeGreaterThan(1);
  });

  it('dispatch streams the body; in-flight returns to 0 once consumed, and once destroyed', async () => {
    const [u] = await servers(1);
    u!.handler = (req, res, body) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`${req.method} ${body}|`);
      u!.held.push(res);
      // The rest comes when the test releases it.
      res.once('finish', () => undefined);
    };
    const { client } = clientOver([u!.instance], { breaker: { threshold: 1 } });

    const consumed = await client.dispatch(SERVICE, {
      method: 'PUT',
      path: '/products/1/stock',
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from('stock=3'),
    });
    expect(consumed.statusCode).toBe(200);
    expect(consumed.instance.id).toBe(u!.instance.id);
    expect(circuitOf(client, u!.instance.id)?.inFlight).toBe(1);
    const text = (async () => {
      let all = '';
      for await (const chunk of consumed.body) all += String(chunk);
      return all;
    })();
    await waitFor(() => u!.held.length === 1);
    u!.held.splice(0).forEach((res) => res.end('end'));
    expect(await text).toBe('PUT stock=3|end');
    await waitFor(() => circuitOf(client, u!.instance.id)?.inFlight === 0);

    const destroyed = await client.dispatch(SERVICE, { method: 'GET', path: '/big', headers: {} });
    expect(circuitOf(client, u!.instance.id)?.inFlight).toBe(1);
    destroyed.body.destroy();
    await waitFor(() => circuitOf(client, u!.instance.id)?.inFlight === 0);
    // The consumer walking away is not the instance's fault.
    expect(circuitOf(client, u!.instance.id)?.circuit).toBe('closed');
  });

  it('an instance removed from the source gets no traffic and its pool is closed', async () => {
    const [a, b] = await servers(2);
    const { client, source } = clientOver([a!.instance, b!.instance]);
    for (let i = 0; i < 4; i++) await client.call(SERVICE, get());
    expect(a!.sockets.size).toBeGreaterThan(0);
    const seenBefore = a!.seen.length;

    source.remove(a!.instance.id);
    await waitFor(() => a!.sockets.size === 0);
    for (let i = 0; i < 6; i++) expect((await client.call(SERVICE, get())).instanceId).toBe(b!.instance.id);
    expect(a!.seen.length).toBe(seenBefore);
    expect(client.snapshot()).toEqual([
      { name: SERVICE, instances: [{ instance: b!.instance, circuit: 'closed', inFlight: 0 }] },
    ]);
  });

  it('snapshot lists every instance of every service, whatever its status', async () => {
    const [a] = await servers(1);
    const draining = instanceAt(1, 'draining');
    const other = { ...instanceAt(2), service: 'user-service' };
    const { client } = clientOver([a!.instance, draining, other]);
    await client.call(SERVICE, get());
    const snap = client.snapshot();
    expect(snap.map((s) => s.name).sort()).toEqual([SERVICE, 'user-service']);
    const mine = snap.find((s) => s.name === SERVICE)!;
    expect(mine.instances.map((i) => i.instance.id)).toEqual([a!.instance.id, draining.id]);
    expect(mine.instances.every((i) => i.circuit === 'closed' && i.inFlight === 0)).toBe(true);
  });
});
