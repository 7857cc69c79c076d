import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../clock.js';
import { StaticInstanceSource } from '../discovery/instance-source.js';
import { MeshError, UPSTREAM_ERROR_HEADER } from '../errors.js';
import type { ServiceInstance } from '../registry/instance.js';
import { ServiceClient, type ServiceClientOptions } from './service-client.js';

const SERVICE = 'product-service';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
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
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
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

  /** Stops listening: connections are refused until `resume()`. */
  async pause(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async resume(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
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

/** Reads a response body to its end. */
async function drain(body: Readable): Promise<void> {
  body.resume();
  await finished(body);
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

function statsOf(client: ServiceClient) {
  return client.stats().find((s) => s.service === SERVICE);
}

/** Calls until `done()` or `max` calls; the statuses it got. */
async function callUntil(client: ServiceClient, done: () => boolean, max = 30): Promise<number[]> {
  const statuses: number[] = [];
  while (!done()) {
    if (statuses.length >= max) throw new Error(`not done after ${max} calls`);
    statuses.push((await client.call(SERVICE, get())).status);
  }
  return statuses;
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
    const logged: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => logged.push(line) });
    const { client } = clientOver([a!.instance, bad!.instance, c!.instance], { logger });
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await client.call(SERVICE, get())).status);
    // A 5xx resolves (it is an HTTP answer); the breaker is what reacts.
    expect(statuses.filter((s) => s === 500)).toHaveLength(5);
    expect(bad!.seen).toHaveLength(5);
    expect(circuitOf(client, bad!.instance.id)?.circuit).toBe('open');
    expect(logged.some((l) => l.includes('circuit breaker opened') && l.includes(bad!.instance.id))).toBe(true);

    for (let i = 0; i < 10; i++) expect((await client.call(SERVICE, get())).status).toBe(200);
    expect(bad!.seen).toHaveLength(5);
    expect(a!.seen.length + c!.seen.length).toBe(20);
  });

  it('all breakers open: 503 with Retry-After and no request reaches the network', async () => {
    const [a, b] = await servers(2);
    for (const u of [a, b]) u!.handler = (_req, res) => json(res, 503, {});
    const clock = new ManualClock(5_000_000);
    // One attempt per call: this story is the breakers' alone (GET 503s are retried otherwise).
    const { client } = clientOver([a!.instance, b!.instance], {
      clock,
      breaker: { threshold: 2 },
      retry: { maxAttempts: 1 },
    });
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

  it('a closed port among the instances: every call succeeds elsewhere, and it is ejected at once', async () => {
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
    // Since the outlier detector: the first refusal ejects it, so its breaker saw one failure only.
    expect(circuitOf(client, dead.id)).toMatchObject({ circuit: 'closed', ejected: true, ejections: 1 });
    expect(logged.some((l) => l.includes('outlier ejected') && l.includes(dead.id))).toBe(true);
    expect(client.stats()).toEqual([
      { service: SERVICE, requests: 12, retries: 1, retryBudgetExhausted: 0, ejections: 1, panicRoutes: 0 },
    ]);
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

  it('an answer whose body stalls for the timeout: UPSTREAM_TIMEOUT within about a second more', async () => {
    const [u] = await servers(1);
    u!.handler = (_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('abc');
      u!.held.push(res);
    };
    const { client } = clientOver([u!.instance]);
    const started = Date.now();
    const err = await rejection(client.call(SERVICE, { ...get(), timeoutMs: 300 }));
    expect(err).toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    // The pool's sweep runs once a second: the stall is found 0.3–2.3 s after the last byte.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(circuitOf(client, u!.instance.id)?.inFlight).toBe(0);
  });

  it('the client-wide request timeout applies when the request names none', async () => {
    const [u] = await servers(1);
    u!.hold();
    const { client } = clientOver([u!.instance], { requestTimeoutMs: 200 });
    expect((await rejection(client.call(SERVICE, get()))).code).toBe('UPSTREAM_TIMEOUT');
  });

  it("a service's own request timeout (requestTimeouts) applies over the client-wide one", async () => {
    const [u] = await servers(1);
    u!.handler = (_req, res) => {
      setTimeout(() => json(res, 200, { ok: true }), 300);
    };
    const patient = clientOver([u!.instance], { requestTimeoutMs: 100, requestTimeouts: { [SERVICE]: 3000 } });
    expect((await patient.client.call(SERVICE, get())).status).toBe(200);
    const strict = clientOver([u!.instance], { requestTimeoutMs: 3000, requestTimeouts: { [SERVICE]: 100 } });
    expect((await rejection(strict.client.call(SERVICE, get()))).code).toBe('UPSTREAM_TIMEOUT');
    expect(strict.client.requestTimeoutFor('another-service')).toBe(3000);
  });

  it('a 404 is an answer, not a failure', async () => {
    const [u] = await servers(1);
    u!.handler = (_req, res) => json(res, 404, { title: 'Not Found' });
    const { client } = clientOver([u!.instance], { breaker: { threshold: 1 } });
    for (let i = 0; i < 3; i++) expect((await client.call(SERVICE, get('/products/nope'))).status).toBe(404);
    expect(u!.seen).toHaveLength(3);
    expect(circuitOf(client, u!.instance.id)?.circuit).toBe('closed');
  });

  it('a 5xx the instance answers for a failed dependency (x-meshkit-upstream-error) does not count against it', async () => {
    const [u] = await servers(1);
    u!.handler = (_req, res) => {
      res.setHeader(UPSTREAM_ERROR_HEADER, 'urn:meshkit:problem:no-healthy-instance');
      json(res, 503, { title: 'Service Unavailable' });
    };
    const { client } = clientOver([u!.instance], { breaker: { threshold: 2 }, retry: { maxAttempts: 1 } });
    for (let i = 0; i < 6; i++) expect((await client.call(SERVICE, get())).status).toBe(503);
    expect(u!.seen).toHaveLength(6);
    expect(circuitOf(client, u!.instance.id)).toMatchObject({ circuit: 'closed', ejected: false });

    // The same answers without the header are the instance's own failures.
    u!.handler = (_req, res) => json(res, 503, { title: 'Service Unavailable' });
    for (let i = 0; i < 2; i++) await client.call(SERVICE, get());
    expect(circuitOf(client, u!.instance.id)?.circuit).toBe('open');
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

  it('a header given several values goes as several lines, in order', async () => {
    const [u] = await servers(1);
    const { client } = clientOver([u!.instance]);
    await client.dispatch(SERVICE, { method: 'GET', path: '/', headers: { 'x-tag': ['a', 'b'], accept: 'text/plain' } })
      .then((r) => drain(r.body));
    const raw = u!.seen[0]?.rawHeaders ?? [];
    const lines = raw.flatMap((v, i) => (i % 2 === 0 && ['x-tag', 'accept'].includes(v.toLowerCase()) ? [`${v}: ${raw[i + 1]}`] : []));
    expect(lines).toEqual(['x-tag: a', 'x-tag: b', 'accept: text/plain']);
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
      {
        name: SERVICE,
        instances: [{ instance: b!.instance, circuit: 'closed', inFlight: 0, ejected: false, ejections: 0 }],
      },
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
    expect(
      mine.instances.every((i) => i.circuit === 'closed' && i.inFlight === 0 && !i.ejected && i.ejections === 0),
    ).toBe(true);
  });
});

describe('outlier ejection (Envoy semantics, passive, from real traffic)', () => {
  it('a refused connection ejects at once; no traffic until the ejection ends, then it is back', async () => {
    const clock = new ManualClock(1_000_000);
    const [a, b, c] = await servers(3);
    await c!.pause();
    const { client } = clientOver([a!.instance, b!.instance, c!.instance], { clock });
    for (let i = 0; i < 6; i++) {
      const res = await client.call(SERVICE, get());
      expect(res.status).toBe(200);
      expect(res.instanceId).not.toBe(c!.instance.id);
    }
    expect(circuitOf(client, c!.instance.id)).toMatchObject({ ejected: true, ejections: 1, circuit: 'closed' });
    expect(statsOf(client)).toMatchObject({ requests: 6, retries: 1, ejections: 1 });

    await c!.resume();
    for (let i = 0; i < 6; i++) await client.call(SERVICE, get());
    clock.advance(29_999);
    for (let i = 0; i < 6; i++) await client.call(SERVICE, get());
    expect(c!.seen).toHaveLength(0);

    clock.advance(1);
    expect(circuitOf(client, c!.instance.id)).toMatchObject({ ejected: false, ejections: 1 });
    for (let i = 0; i < 6; i++) await client.call(SERVICE, get());
    expect(c!.seen).toHaveLength(2);
  });

  it('five consecutive 5xx eject an instance; 4xx are answers and do not count', async () => {
    const clock = new ManualClock(1_000_000);
    const [a, bad, c] = await servers(3);
    let failing = false;
    bad!.handler = (_req, res) => json(res, failing ? 503 : 404, {});
    // A breaker that would not open: the ejection alone keeps traffic away.
    const { client } = clientOver([a!.instance, bad!.instance, c!.instance], { clock, breaker: { threshold: 100 } });
    const post = () => client.call(SERVICE, { method: 'POST', path: '/orders', body: {} });
    for (let i = 0; i < 30; i++) await post();
    expect(bad!.seen).toHaveLength(10);
    expect(circuitOf(client, bad!.instance.id)?.ejected).toBe(false);

    failing = true;
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await post()).status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(5); // a POST is not retried
    expect(bad!.seen).toHaveLength(15);
    expect(circuitOf(client, bad!.instance.id)).toMatchObject({ ejected: true, ejections: 1, circuit: 'closed' });

    for (let i = 0; i < 10; i++) expect((await post()).status).toBe(200);
    expect(bad!.seen).toHaveLength(15);
  });

  it('a re-ejection lasts twice as long (base × times ejected)', async () => {
    const clock = new ManualClock(1_000_000);
    const [a, b] = await servers(2);
    const dead = instanceAt(await closedPort());
    const { client } = clientOver([a!.instance, b!.instance, dead], { clock });
    const ejected = () => circuitOf(client, dead.id)?.ejected === true;
    await callUntil(client, ejected);
    clock.advance(30_000);
    expect(ejected()).toBe(false);
    await callUntil(client, ejected, 3); // back in the rotation, refused again at once
    expect(circuitOf(client, dead.id)?.ejections).toBe(2);
    clock.advance(59_999);
    expect(ejected()).toBe(true);
    clock.advance(1);
    expect(ejected()).toBe(false);
  });

  it('ejects at most 50 % of a service’s instances at once: 1 of 3 when all fail', async () => {
    const clock = new ManualClock(1_000_000);
    const all = await servers(3);
    for (const u of all) u.handler = (_req, res) => json(res, 500, {});
    const { client } = clientOver(
      all.map((u) => u.instance),
      { clock, breaker: { threshold: 1000 } },
    );
    for (let i = 0; i < 30; i++) expect((await client.call(SERVICE, get())).status).toBe(500); // a 500 is not retried
    const ejected = all.filter((u) => circuitOf(client, u.instance.id)?.ejected);
    expect(ejected).toHaveLength(1);
    expect(statsOf(client)).toMatchObject({ requests: 30, retries: 0, ejections: 1, panicRoutes: 0 });
    expect(all.map((u) => u.seen.length).reduce((x, y) => x + y)).toBe(30);
  });

  it('panic: with 2 of 3 ejected, traffic goes to all 3 until the ejections end', async () => {
    const clock = new ManualClock(1_000_000);
    const [x, y, z] = await servers(3);
    let broken = true;
    for (const u of [x, y]) u!.handler = (_req, res) => json(res, broken ? 500 : 200, { id: u!.instance.id });
    const logged: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => logged.push(line) });
    const { client } = clientOver([x!.instance, y!.instance, z!.instance], {
      clock,
      logger,
      breaker: { threshold: 1000 },
      outlier: { consecutive5xx: 1, maxEjectionPercent: 100 },
    });
    await callUntil(client, () => [x, y].every((u) => circuitOf(client, u!.instance.id)?.ejected));
    expect(statsOf(client)?.ejections).toBe(2);

    broken = false;
    const before = [x, y, z].map((u) => u!.seen.length);
    for (let i = 0; i < 9; i++) expect((await client.call(SERVICE, get())).status).toBe(200);
    const gained = [x, y, z].map((u, i) => u!.seen.length - (before[i] ?? 0));
    expect(gained).toEqual([3, 3, 3]);
    expect(statsOf(client)?.panicRoutes).toBe(9);
    expect(logged.some((l) => l.includes('panic routing'))).toBe(true);
    // Still ejected: panic routes around the ejections, it does not end them.
    expect([x, y].every((u) => circuitOf(client, u!.instance.id)?.ejected)).toBe(true);

    clock.advance(30_000);
    for (let i = 0; i < 3; i++) await client.call(SERVICE, get());
    expect(statsOf(client)?.panicRoutes).toBe(9);
  });

  it('panic ignores ejections, not open breakers: the seed’s breaker still fails fast', async () => {
    const clock = new ManualClock(1_000_000);
    const [x, y, z] = await servers(3);
    const { client } = clientOver([x!.instance, y!.instance, z!.instance], {
      clock,
      breaker: { threshold: 2 },
      outlier: { consecutive5xx: 1 },
    });
    // x fails once: ejected (the one ejection 50 % of 3 allows); its breaker stays closed.
    x!.handler = (_req, res) => json(res, 500, {});
    await callUntil(client, () => circuitOf(client, x!.instance.id)?.ejected === true);
    x!.handler = (_req, res) => json(res, 200, {});
    // y fails twice: no room to eject it, so its breaker opens. 1 of 3 available: panic.
    y!.handler = (_req, res) => json(res, 500, {});
    await callUntil(client, () => circuitOf(client, y!.instance.id)?.circuit === 'open');
    expect(circuitOf(client, y!.instance.id)?.ejected).toBe(false);

    const before = [x, y, z].map((u) => u!.seen.length);
    for (let i = 0; i < 6; i++) expect((await client.call(SERVICE, get())).status).toBe(200);
    const gained = [x, y, z].map((u, i) => u!.seen.length - (before[i] ?? 0));
    expect(gained).toEqual([3, 0, 3]);
  });

  it('a lone instance that is ejected still gets the traffic (panic), and recovers', async () => {
    const clock = new ManualClock(1_000_000);
    const [u] = await servers(1);
    let status = 500;
    u!.handler = (_req, res) => json(res, status, {});
    const { client } = clientOver([u!.instance], { clock, breaker: { threshold: 1000 } });
    for (let i = 0; i < 5; i++) await client.call(SERVICE, get());
    expect(circuitOf(client, u!.instance.id)?.ejected).toBe(true);
    status = 200;
    expect((await client.call(SERVICE, get())).status).toBe(200);
    expect(u!.seen).toHaveLength(6);
  });
});

describe('safe retries', () => {
  const failWith = (status: number) => (_req: http.IncomingMessage, res: http.ServerResponse) =>
    json(res, status, { status });

  it('a GET answered 503 is retried on another instance and succeeds', async () => {
    const [bad, good] = await servers(2);
    bad!.handler = failWith(503);
    const { client } = clientOver([bad!.instance, good!.instance], { breaker: { threshold: 1000 } });
    for (let i = 0; i < 4; i++) {
      const res = await client.call(SERVICE, get());
      expect(res.status).toBe(200);
      expect(res.instanceId).toBe(good!.instance.id);
    }
    expect(bad!.seen.length).toBeGreaterThan(0);
    expect(good!.seen).toHaveLength(4);
    expect(statsOf(client)).toMatchObject({ requests: 4, retries: bad!.seen.length });
  });

  it('a POST answered 503 is not retried; with an Idempotency-Key it is', async () => {
    const [bad, good] = await servers(2);
    bad!.handler = failWith(503);
    const { client } = clientOver([bad!.instance, good!.instance], { breaker: { threshold: 1000 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await client.call(SERVICE, { method: 'POST', path: '/orders', body: { n: i } })).status);
    }
    expect(statuses.sort()).toEqual([200, 200, 503, 503]);
    expect([bad!.seen.length, good!.seen.length]).toEqual([2, 2]);
    expect(statsOf(client)?.retries).toBe(0);

    for (let i = 0; i < 4; i++) {
      const res = await client.call(SERVICE, {
        method: 'POST',
        path: '/orders',
        headers: { 'Idempotency-Key': `order-${i}` },
        body: { n: i },
      });
      expect(res.status).toBe(200);
    }
    const keyed = bad!.seen.slice(2);
    expect(keyed.length).toBeGreaterThan(0);
    expect(good!.seen).toHaveLength(6);
    expect(statsOf(client)?.retries).toBe(keyed.length);
    // Each retry carried the same key and body to the other instance.
    for (const first of keyed) {
      const key = first.headers['idempotency-key'];
      expect(good!.seen.find((s) => s.headers['idempotency-key'] === key)?.body).toBe(first.body);
    }
  });

  it('a 500 is not retried (it may have done work), unless retryOn says so', async () => {
    const [bad, good] = await servers(2);
    bad!.handler = failWith(500);
    const { client } = clientOver([bad!.instance, good!.instance], { breaker: { threshold: 1000 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await client.call(SERVICE, get())).status);
    expect(statuses.sort()).toEqual([200, 200, 500, 500]);
    expect(statsOf(client)?.retries).toBe(0);

    const eager = clientOver([bad!.instance, good!.instance], {
      breaker: { threshold: 1000 },
      retry: { retryOn: [500, 503] },
    }).client;
    for (let i = 0; i < 4; i++) expect((await eager.call(SERVICE, get())).status).toBe(200);
  });

  it('never retries on an instance already tried; stops when none is left', async () => {
    const all = await servers(3);
    for (const u of all) u.handler = failWith(503);
    const { client } = clientOver(
      all.map((u) => u.instance),
      { breaker: { threshold: 1000 }, retry: { maxAttempts: 10 } },
    );
    const res = await client.call(SERVICE, get());
    expect(res.status).toBe(503);
    expect(all.map((u) => u.seen.length)).toEqual([1, 1, 1]);
    expect(statsOf(client)?.retries).toBe(2);

    // maxAttempts bounds it below the instance count; per call too.
    const three = await client.call(SERVICE, { ...get(), maxAttempts: 2 });
    expect(three.status).toBe(503);
    expect(all.map((u) => u.seen.length).reduce((x, y) => x + y)).toBe(5);
    await client.call(SERVICE, { ...get(), maxAttempts: 1 });
    expect(all.map((u) => u.seen.length).reduce((x, y) => x + y)).toBe(6);
  });

  it('a GET whose connection broke after sending, or that timed out, is retried elsewhere', async () => {
    const [a, b] = await servers(2);
    a!.handler = (req) => req.socket.destroy();
    const { client } = clientOver([a!.instance, b!.instance]);
    for (let i = 0; i < 4; i++) expect((await client.call(SERVICE, get())).instanceId).toBe(b!.instance.id);
    const broken = a!.seen.length;
    expect(broken).toBeGreaterThan(0);

    a!.hold();
    for (let i = 0; i < 4; i++) {
      expect((await client.call(SERVICE, { ...get(), timeoutMs: 150 })).instanceId).toBe(b!.instance.id);
    }
    expect(a!.seen.length).toBeGreaterThan(broken);
    expect(b!.seen).toHaveLength(8);
    expect(statsOf(client)?.retries).toBe(a!.seen.length);
  });

  it('dispatch retries a Buffer body, intact, never a stream', async () => {
    const [bad, good] = await servers(2);
    bad!.handler = failWith(503);
    const { client } = clientOver([bad!.instance, good!.instance], { breaker: { threshold: 1000 } });
    for (let i = 0; i < 2; i++) {
      const res = await client.dispatch(SERVICE, {
        method: 'PUT',
        path: '/products/1/stock',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from(`stock=${i}`),
      });
      expect(res.statusCode).toBe(200);
      expect(res.instance.id).toBe(good!.instance.id);
      await drain(res.body);
    }
    expect(good!.seen.map((s) => s.body)).toEqual(['stock=0', 'stock=1']);
    expect(bad!.seen.length).toBeGreaterThan(0);
    expect(statsOf(client)?.retries).toBe(bad!.seen.length);

    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await client.dispatch(SERVICE, {
        method: 'PUT',
        path: '/products/1/stock',
        headers: {},
        body: Readable.from([`stock=${i}`]),
      });
      statuses.push(res.statusCode);
      await drain(res.body);
    }
    expect(statuses.sort()).toEqual([200, 503]);
  });

  it('a storm of failures: retries stay within 20 % of the requests + the 3/s reserve', async () => {
    const clock = new ManualClock(1_000_000);
    const all = await servers(3);
    for (const u of all) u.handler = failWith(503);
    const { client } = clientOver(
      all.map((u) => u.instance),
      { clock, breaker: { threshold: 1e6 }, outlier: { consecutive5xx: 1e6 } },
    );
    const requests = 100;
    for (let i = 0; i < requests; i++) expect((await client.call(SERVICE, get())).status).toBe(503);
    const stats = statsOf(client)!;
    // Without a budget: 2 retries each, 200. With it: 0.2 × 100 + 3/s × 10 s = 50 at most.
    expect(stats.retries).toBeLessThanOrEqual(0.2 * requests + 30);
    expect(stats.retries).toBeGreaterThanOrEqual(0.2 * requests + 30 - 2);
    // Once spent, most requests are refused their retry: each refusal counted once.
    expect(stats.retryBudgetExhausted).toBeGreaterThan(requests / 2);
    expect(stats.retryBudgetExhausted).toBeLessThanOrEqual(requests);
    const reached = all.map((u) => u.seen.length).reduce((x, y) => x + y);
    expect(reached).toBe(requests + stats.retries);

    // The window slides on: 10 s later the budget is there again.
    clock.advance(10_000);
    await client.call(SERVICE, get());
    expect(statsOf(client)!.retries).toBe(stats.retries + 2);
  });
});

describe('per-attempt timeout and overall deadline', () => {
  it('a hanging service: 200 ms attempts under a 500 ms deadline give 504 near the deadline', async () => {
    const all = await servers(3);
    for (const u of all) u.hold();
    const { client } = clientOver(
      all.map((u) => u.instance),
      { requestTimeoutMs: 200 },
    );
    const started = Date.now();
    const err = await rejection(client.call(SERVICE, { ...get(), deadline: systemClock.now() + 500 }));
    const took = Date.now() - started;
    expect(err).toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(1500);
    const seen = all.flatMap((u) => u.seen);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.length).toBeLessThanOrEqual(3);
    const budgets = seen.map((s) => Number(s.headers['x-request-timeout-ms']));
    // No attempt was given more than its per-attempt timeout, nor more than what remained.
    for (const ms of budgets) expect(ms).toBeGreaterThan(0);
    for (const ms of budgets) expect(ms).toBeLessThanOrEqual(200);
    // A third attempt only got what remained (about 100 ms).
    if (budgets.length === 3) expect(Math.min(...budgets)).toBeLessThan(200);
    await waitFor(() => all.every((u) => circuitOf(client, u.instance.id)?.inFlight === 0));
  });

  it('x-request-timeout-ms carries what remains of the deadline, and decreases between attempts', async () => {
    const all = await servers(3);
    for (const u of all) u.handler = (_req, res) => setTimeout(() => json(res, 503, {}), 100);
    const { client } = clientOver(
      all.map((u) => u.instance),
      { breaker: { threshold: 1000 } },
    );
    const res = await client.call(SERVICE, { ...get(), deadline: systemClock.now() + 3000 });
    expect(res.status).toBe(503);
    const budgets = all
      .flatMap((u) => u.seen)
      .map((s) => Number(s.headers['x-request-timeout-ms']))
      .sort((p, q) => q - p);
    expect(budgets).toHaveLength(3);
    expect(budgets[0]).toBeLessThanOrEqual(3000);
    expect(budgets[0]).toBeGreaterThan(2500);
    expect(budgets[0]! - budgets[1]!).toBeGreaterThanOrEqual(90);
    expect(budgets[1]! - budgets[2]!).toBeGreaterThanOrEqual(90);
  });

  it('the header is computed on the injected clock; without a deadline it is the per-attempt timeout', async () => {
    const clock = new ManualClock(1_000_000);
    const [u] = await servers(1);
    const { client } = clientOver([u!.instance], { clock, requestTimeoutMs: 8000 });
    await client.call(SERVICE, { ...get(), deadline: 1_000_700 });
    await client.call(SERVICE, { ...get(), deadline: 1_020_000 });
    await client.call(SERVICE, get());
    await client.dispatch(SERVICE, {
      method: 'GET',
      path: '/',
      headers: { 'X-Request-Timeout-Ms': '999999' },
      timeoutMs: 300,
    }).then((r) => drain(r.body));
    expect(u!.seen.map((s) => s.headers['x-request-timeout-ms'])).toEqual(['700', '8000', '8000', '300']);
  });

  it('a deadline already passed: 504 and nothing sent', async () => {
    const clock = new ManualClock(1_000_000);
    const [u] = await servers(1);
    const { client } = clientOver([u!.instance], { clock });
    const err = await rejection(client.call(SERVICE, { ...get(), deadline: 1_000_000 }));
    expect(err).toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    expect(u!.seen).toHaveLength(0);
    expect(statsOf(client)).toBeUndefined();
  });

  it('an attempt the deadline cut short to under half its timeout does not count against the instance', async () => {
    const [u] = await servers(1);
    u!.hold();
    const { client } = clientOver([u!.instance], { breaker: { threshold: 1 }, outlier: { consecutive5xx: 1 } });
    const err = await rejection(client.call(SERVICE, { ...get(), deadline: systemClock.now() + 150, timeoutMs: 400 }));
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(circuitOf(client, u!.instance.id)).toMatchObject({ circuit: 'closed', ejected: false, inFlight: 0 });

    // Its own per-attempt timeout does.
    expect((await rejection(client.call(SERVICE, { ...get(), timeoutMs: 150 }))).code).toBe('UPSTREAM_TIMEOUT');
    expect(circuitOf(client, u!.instance.id)).toMatchObject({ circuit: 'open', ejected: true });
  });

  it('a hung instance behind a caller with the same timeout is still found out: cut short, but it had most of its time', async () => {
    // The gateway and orders both wait 500 ms per attempt; orders' calls inherit the gateway's
    // deadline, so they are always cut a little short. A hung instance must still be ejected.
    const [hung, fine] = await servers(2);
    hung!.hold();
    const { client } = clientOver([hung!.instance, fine!.instance], {
      requestTimeoutMs: 200,
      breaker: { threshold: 1000 },
      outlier: { consecutive5xx: 2 },
      retry: { maxAttempts: 1 },
    });
    const outcomes: (number | string)[] = [];
    for (let i = 0; i < 6; i++) {
      try {
        outcomes.push((await client.call(SERVICE, { ...get(), deadline: systemClock.now() + 190 })).status);
      } catch (err) {
        outcomes.push((err as MeshError).code);
      }
    }
    // Round robin: the hung one failed twice (cut short at 190 of 200 ms), then it was ejected.
    expect(outcomes.filter((o) => o === 'UPSTREAM_TIMEOUT')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 200)).toHaveLength(4);
    expect(circuitOf(client, hung!.instance.id)).toMatchObject({ ejected: true, inFlight: 0 });
    expect(circuitOf(client, fine!.instance.id)).toMatchObject({ ejected: false });
  });
});

describe('ensureAvailable: failing fast before doing work', () => {
  it('throws the 503 a call would get (no instance, every breaker open), sends nothing, and passes when one can take it', async () => {
    const clock = new ManualClock(1_000_000);
    const [a, b] = await servers(2);
    for (const u of [a!, b!]) u.handler = (_req, res) => json(res, 500, {});
    const { client, source } = clientOver([a!.instance, b!.instance], { clock, breaker: { threshold: 1, openMs: 5000 } });
    expect(() => client.ensureAvailable(SERVICE)).not.toThrow();

    await client.call(SERVICE, { ...get(), maxAttempts: 1 });
    expect(() => client.ensureAvailable(SERVICE)).not.toThrow();
    await client.call(SERVICE, { ...get(), maxAttempts: 1 });
    const sent = a!.seen.length + b!.seen.length;
    expect(sent).toBe(2);
    const err = (() => {
      try {
        client.ensureAvailable(SERVICE);
      } catch (e) {
        return e as MeshError;
      }
      throw new Error('ensureAvailable passed with every breaker open');
    })();
    expect(err).toMatchObject({ code: 'NO_HEALTHY_INSTANCE', status: 503, retryAfter: 5 });
    expect(a!.seen.length + b!.seen.length).toBe(sent);

    // Half-open after openMs: a probe may go, so it passes.
    clock.advance(5000);
    expect(() => client.ensureAvailable(SERVICE)).not.toThrow();

    source.remove(a!.instance.id);
    source.remove(b!.instance.id);
    expect(() => client.ensureAvailable(SERVICE)).toThrow(/no healthy instance/);
  });
});

