import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceClient, type ServiceInstance, StaticInstanceSource } from '@meshkit/toolkit';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { testInstance } from '../../../test/support/instances.js';
import { createGateway, type GatewayHandle } from './gateway.js';
import { isValidTraceparent } from './headers.js';
import { createGatewayApp, type GatewayAppOptions } from './main.js';

/** What an upstream saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface Upstream {
  port: number;
  seen: Seen[];
  /** Requests whose connection went away before the upstream answered. */
  aborted: string[];
  handle: Handler;
  close(): Promise<void>;
}

const echo: Handler = (req, res, body) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ method: req.method, url: req.url, length: body.length }));
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real HTTP server on a free port that records what reaches it. */
async function upstream(handle: Handler = echo): Promise<Upstream> {
  const up: Upstream = {
    port: 0,
    seen: [],
    aborted: [],
    handle,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      up.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.on('close', () => {
        if (!res.writableFinished) up.aborted.push(req.url ?? '');
      });
      up.handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.port = (server.address() as AddressInfo).port;
  let closed = false;
  up.close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(up.close);
  return up;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}


async function gatewayOver(
  instances: ServiceInstance[],
  options: Partial<GatewayAppOptions> = {},
): Promise<GatewayHandle & { source: StaticInstanceSource }> {
  const source = new StaticInstanceSource(instances);
  const gateway = await createGatewayApp({ source, port: 0, logger: false, ...options });
  await gateway.start();
  cleanups.push(() => gateway.stop());
  return Object.assign(gateway, { source });
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function problemOf(res: { status: number; headers: IncomingHttpHeaders; text: string }) {
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.text) as { status: number; title: string; type: string; detail: string };
  expect(body.status).toBe(res.status);
  return body;
}

/** Sends with node:http, which (unlike undici) puts a client's `Connection` header on the wire. */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    // Host, port and path given apart: the path goes on the wire exactly as written.
    const { hostname, port, pathname, search } = new URL(url);
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2)) || `${pathname}${search}`;
    const target = { hostname, port, path, method: options.method ?? 'GET', headers: options.headers };
    const req = http.request(target, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function eventually(check: () => void | Promise<void>, withinMs = 2000): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('the gateway answers for itself', () => {
  it('GET / says it is running, health endpoints answer, and unknown paths are 404 problems', async () => {
    const gw = await gatewayOver([]);
    const root = await get(`${gw.url}/`);
    expect(root.status).toBe(200);
    expect(JSON.parse(root.text)).toEqual({ message: 'API Gateway', status: 'running' });
    expect(root.headers['x-request-id']).toBeTruthy();

    const health = JSON.parse((await get(`${gw.url}/health`)).text);
    expect(health).toMatchObject({ status: 'healthy', service: 'api-gateway' });
    expect((await get(`${gw.url}/health/live`)).status).toBe(200);
    expect((await get(`${gw.url}/health/ready`)).status).toBe(200);

    for (const path of ['/nothing', '/usersX', '/users-admin', '/internal/products/abc', '/user']) {
      const res = await get(`${gw.url}${path}`, { 'x-request-id': `missing-${path.slice(1, 5)}` });
      expect(res.status, path).toBe(404);
      expect(problemOf(res).title).toBe('Not Found');
      expect(res.headers['x-request-id']).toBe(`missing-${path.slice(1, 5)}`);
    }
  });
});

describe('a custom route table', () => {
  it('routes its own prefixes only, and refuses prefixes that take over the gateway paths', async () => {
    const catalog = await upstream();
    const source = new StaticInstanceSource([testInstance('catalog-service', catalog.port)]);
    const client = new ServiceClient({ source });
    cleanups.push(() => client.close());
    const routes = [{ prefix: '/shop/catalog', service: 'catalog-service' }];
    const gw = await createGateway({ client, port: 0, logger: false, routes });
    await gw.start();
    cleanups.push(() => gw.stop());

    expect(JSON.parse((await get(`${gw.url}/shop/catalog/42?x=1`)).text).url).toBe('/shop/catalog/42?x=1');
    expect((await get(`${gw.url}/users`)).status).toBe(404);
    expect((await get(`${gw.url}/shop`)).status).toBe(404);

    for (const prefix of ['/health', '/registry', '/health/x']) {
      const taken = createGateway({ client, port: 0, logger: false, routes: [{ prefix, service: 's' }] });
      await expect(taken).rejects.toThrow(/collides/);
    }
    const root = createGateway({ client, port: 0, logger: false, routes: [{ prefix: '/', service: 's' }] });
    await expect(root).rejects.toThrow(/prefix/);
  });
});

describe('proxying to the owning service', () => {
  it('forwards the collection and item paths with their query strings unchanged', async () => {
    const users = await upstream();
    const products = await upstream();
    const gw = await gatewayOver([
      testInstance('user-service', users.port),
      testInstance('product-service', products.port),
    ]);

    const paths = ['/users', '/users?limit=5&after=x', '/users/', '/users/abc?x=1&y=2', '/users/a%20b/c?q=%E2%82%AC&q=2'];
    for (const path of paths) {
      const res = await get(`${gw.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(JSON.parse(res.text).url).toBe(path);
    }
    expect(users.seen.map((s) => s.url)).toEqual(paths);
    await get(`${gw.url}/products/p-1/stock`);
    expect(products.seen.map((s) => s.url)).toEqual(['/products/p-1/stock']);
  });

  it('forwards every method, with the request body bytes and content type intact', async () => {
    const orders = await upstream();
    const gw = await gatewayOver([testInstance('order-service', orders.port)]);
    const binary = randomBytes(64 * 1024);
    const oddJson = Buffer.from('{ "total" : 1.10 ,"x":[1 ,2]}\n');

    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      const res = await request(`${gw.url}/orders/o-1`, {
        method,
        headers: { 'content-type': 'application/octet-stream' },
        body: binary,
      });
      expect(res.statusCode, method).toBe(200);
      expect(JSON.parse(await res.body.text())).toMatchObject({ method, url: '/orders/o-1', length: binary.length });
      const seen = orders.seen.at(-1);
      expect(seen?.method).toBe(method);
      expect(seen?.body.equals(binary)).toBe(true);
      expect(seen?.headers['content-type']).toBe('application/octet-stream');
    }

    // JSON is not parsed on the way: not even invalid JSON, which the upstream judges.
    for (const body of [oddJson, Buffer.from('{not json')]) {
      await request(`${gw.url}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body,
      }).then((r) => r.body.dump());
      expect(orders.seen.at(-1)?.body.equals(body)).toBe(true);
      expect(orders.seen.at(-1)?.headers['content-type']).toBe('application/json; charset=utf-8');
    }

    for (const method of ['GET', 'OPTIONS'] as const) {
      const res = await request(`${gw.url}/orders/user/u-1?limit=2`, { method });
      expect(res.statusCode, method).toBe(200);
      expect(JSON.parse(await res.body.text())).toMatchObject({ method, url: '/orders/user/u-1?limit=2' });
    }

    orders.handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '42', etag: '"v7"' });
      res.end();
    };
    const head = await request(`${gw.url}/orders/o-1`, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('42');
    expect(head.headers.etag).toBe('"v7"');
    expect(await head.body.text()).toBe('');
    expect(orders.seen.at(-1)?.method).toBe('HEAD');
  });

  it('returns upstream status codes, headers and problem bodies as they are', async () => {
    const users = await upstream();
    const gw = await gatewayOver([testInstance('user-service', users.port)]);
    const problem = (status: number, title: string) =>
      JSON.stringify({ type: 'about:blank', title, status, detail: `upstream says ${status}` });

    const answers: Record<string, Handler> = {
      '201': (_q, res) => {
        res.writeHead(201, {
          'content-type': 'application/json',
          location: '/users/u-9',
          'set-cookie': ['a=1', 'b=2'],
        });
        res.end('{"id":"u-9"}');
      },
      '204': (_q, res) => {
        res.writeHead(204, { 'x-upstream': 'yes' });
        res.end();
      },
      '404': (_q, res) => {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(problem(404, 'Not Found'));
      },
      '409': (_q, res) => {
        res.writeHead(409, { 'content-type': 'application/problem+json' });
        res.end(problem(409, 'Conflict'));
      },
      '422': (_q, res) => {
        res.writeHead(422, { 'content-type': 'application/problem+json' });
        res.end(problem(422, 'Unprocessable Content'));
      },
      '500': (_q, res) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('upstream broke');
      },
    };
    for (const [status, handle] of Object.entries(answers)) {
      users.handle = handle;
      const res = await get(`${gw.url}/users/x`, { 'x-request-id': `status-${status}` });
      expect(res.status).toBe(Number(status));
      expect(res.headers['x-request-id']).toBe(`status-${status}`);
      if (status === '201') {
        expect(res.text).toBe('{"id":"u-9"}');
        expect(res.headers.location).toBe('/users/u-9');
        expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      } else if (status === '204') {
        expect(res.text).toBe('');
        expect(res.headers['x-upstream']).toBe('yes');
      } else if (status === '500') {
        expect(res.text).toBe('upstream broke'); // the upstream's answer, not a gateway problem
      } else {
        expect(res.headers['content-type']).toBe('application/problem+json');
        expect(res.text).toBe(problem(Number(status), JSON.parse(res.text).title));
      }
    }
  });

  it('drops hop-by-hop headers in both directions, including those named in Connection', async () => {
    const users = await upstream((_req, res) => {
      res.setHeader('connection', 'x-up-secret');
      res.setHeader('x-up-secret', '1');
      res.setHeader('proxy-authenticate', 'Basic');
      res.setHeader('x-kept', 'yes');
      res.end('ok');
    });
    const gw = await gatewayOver([testInstance('user-service', users.port)]);

    const res = await rawRequest(`${gw.url}/users/1`, {
      headers: {
        connection: 'x-custom',
        'x-custom': '1',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic abc',
        te: 'trailers',
        authorization: 'Bearer end-to-end',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ok');
    const seen = users.seen[0]?.headers ?? {};
    expect(seen['x-custom']).toBeUndefined();
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(seen.te).toBeUndefined();
    expect(seen['keep-alive']).toBeUndefined();
    expect(seen.authorization).toBe('Bearer end-to-end');
    expect(res.headers['x-up-secret']).toBeUndefined();
    expect(res.headers['proxy-authenticate']).toBeUndefined();
    expect(res.headers['x-kept']).toBe('yes');
  });

  it('carries one request id and the trace context from client to upstream and back', async () => {
    const users = await upstream();
    const gw = await gatewayOver([testInstance('user-service', users.port)]);

    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const sent = await get(`${gw.url}/users`, { 'x-request-id': 'client-chosen-id', traceparent });
    expect(sent.headers['x-request-id']).toBe('client-chosen-id');
    expect(users.seen[0]?.headers['x-request-id']).toBe('client-chosen-id');
    expect(users.seen[0]?.headers.traceparent).toBe(traceparent);

    const fresh = await get(`${gw.url}/users`);
    const id = fresh.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(users.seen[1]?.headers['x-request-id']).toBe(id);
    expect(isValidTraceparent(String(users.seen[1]?.headers.traceparent))).toBe(true);
    expect(users.seen[1]?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(users.seen[1]?.headers['x-forwarded-proto']).toBe('http');
    expect(users.seen[1]?.headers['x-forwarded-host']).toBe(new URL(gw.url).host);
    expect(users.seen[1]?.headers.host).toBe(`127.0.0.1:${users.port}`);
  });

  it('streams a large upstream response intact', async () => {
    const big = randomBytes(5 * 1024 * 1024);
    const products = await upstream((_req, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      // Written in pieces without a length: the body is chunked on the way in.
      let offset = 0;
      const more = () => {
        while (offset < big.length) {
          const piece = big.subarray(offset, offset + 256 * 1024);
          offset += piece.length;
          if (!res.write(piece)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const gw = await gatewayOver([testInstance('product-service', products.port)]);
    const res = await request(`${gw.url}/products/export`);
    expect(res.statusCode).toBe(200);
    const got = Buffer.from(await res.body.arrayBuffer());
    expect(got.length).toBe(big.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
  });

  it('spreads requests round robin across three instances', async () => {
    const ups = await Promise.all([upstream(), upstream(), upstream()]);
    const gw = await gatewayOver(ups.map((u) => testInstance('user-service', u.port)));
    for (let i = 0; i < 30; i++) expect((await get(`${gw.url}/users`)).status).toBe(200);
    expect(ups.map((u) => u.seen.length)).toEqual([10, 10, 10]);
  });
});

describe('paths and bodies the gateway refuses or passes', () => {
  it('refuses dot segments that would climb out of the prefix, and passes long paths', async () => {
    const users = await upstream();
    const gw = await gatewayOver([testInstance('user-service', users.port)]);
    for (const path of ['/users/../internal/x', '/users/%2e%2E/internal', '/users/./a', '/users/..?x=1']) {
      const res = await rawRequest(`${gw.url}${path}`, {});
      expect(res.status, path).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(users.seen).toHaveLength(0);

    const long = `/users/${'a'.repeat(300)}/${'b'.repeat(300)}?q=${'c'.repeat(1000)}`;
    const dots = '/users/.well-known/.../a..b';
    for (const path of [long, dots]) {
      const res = await get(`${gw.url}${path}`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text).url).toBe(path);
    }
  });
});

describe('cross-origin requests', () => {
  it('answers preflights for allowed origins itself and marks proxied responses', async () => {
    const users = await upstream();
    const gw = await gatewayOver([testInstance('user-service', users.port)], { corsOrigins: ['https://shop.example'] });
    const preflight = await request(`${gw.url}/users/1`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'PUT' },
    });
    await preflight.body.dump();
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(users.seen).toHaveLength(0);

    const allowed = await get(`${gw.url}/users`, { origin: 'https://shop.example' });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
    const other = await get(`${gw.url}/users`, { origin: 'https://evil.example' });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('a body over the limit', () => {
  it('is refused with 413 before reaching the upstream; exactly the limit passes', async () => {
    const users = await upstream();
    const gw = await gatewayOver([testInstance('user-service', users.port)]);
    const limit = 1024 * 1024;

    const ok = await request(`${gw.url}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(limit, 0x20),
    });
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    expect(users.seen[0]?.body.length).toBe(limit);

    const res = await request(`${gw.url}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'too-big' },
      body: Buffer.alloc(limit + 1, 0x20),
    });
    const text = await res.body.text();
    expect(res.statusCode).toBe(413);
    expect(problemOf({ status: res.statusCode, headers: res.headers, text }).status).toBe(413);
    expect(res.headers['x-request-id']).toBe('too-big');
    expect(users.seen).toHaveLength(1);
  });
});

describe('when upstreams fail', () => {
  it('answers 503 with Retry-After when the service has no instance', async () => {
    const gw = await gatewayOver([]);
    const res = await get(`${gw.url}/orders`, { 'x-request-id': 'none-there' });
    expect(res.status).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(problemOf(res).detail).toMatch(/order-service/);
    expect(res.headers['x-request-id']).toBe('none-there');
  });

  it('answers 502 for an instance that refuses connections, and uses another one when there is one', async () => {
    const dead = await closedPort();
    const gw = await gatewayOver([testInstance('user-service', dead)]);
    const res = await get(`${gw.url}/users/1`, { 'x-request-id': 'refused' });
    expect(res.status).toBe(502);
    expect(problemOf(res).title).toBe('Bad Gateway');
    expect(res.headers['x-request-id']).toBe('refused');

    const alive = await upstream();
    gw.source.add(testInstance('user-service', alive.port));
    for (let i = 0; i < 6; i++) {
      const post = await request(`${gw.url}/users`, {
        method: 'POST',
        body: `{"n":${i}}`,
        headers: { 'content-type': 'application/json' },
      });
      expect(post.statusCode).toBe(200);
      await post.body.dump();
    }
    expect(alive.seen.map((s) => s.body.toString())).toEqual([0, 1, 2, 3, 4, 5].map((i) => `{"n":${i}}`));
  });

  it('answers 502 when the upstream breaks off after its headers, and cuts a body broken midway', async () => {
    const users = await upstream((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      if (req.url === '/users/midway') res.write('{"partial":');
      else res.flushHeaders();
      setTimeout(() => req.socket.destroy(), 20);
    });
    const gw = await gatewayOver([testInstance('user-service', users.port)]);

    const early = await get(`${gw.url}/users/early`, { 'x-request-id': 'broke-early' });
    expect(early.status).toBe(502);
    expect(problemOf(early).title).toBe('Bad Gateway');
    expect(early.headers['x-request-id']).toBe('broke-early');

    // The status line is out already: the client sees the response cut short, not a complete one.
    const midway = await request(`${gw.url}/users/midway`);
    expect(midway.statusCode).toBe(200);
    await expect(midway.body.text()).rejects.toThrow();
  });

  it('answers 504 when the upstream does not answer within requestTimeoutMs', async () => {
    const slow = await upstream(() => {
      /* never answers */
    });
    const gw = await gatewayOver([testInstance('product-service', slow.port)], { requestTimeoutMs: 300 });
    const res = await get(`${gw.url}/products`, { 'x-request-id': 'too-slow' });
    expect(res.status).toBe(504);
    expect(problemOf(res).title).toBe('Gateway Timeout');
    expect(res.headers['x-request-id']).toBe('too-slow');
  });

  it("gives a service its own timeout (requestTimeouts) over requestTimeoutMs, and sends that budget on", async () => {
    // Orders calls others before it answers: it gets 2 s per attempt where the rest gets 300 ms.
    const slowly = (_req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
      setTimeout(() => echo(_req, res, body), 500);
    };
    const orders = await upstream(slowly);
    const products = await upstream(slowly);
    const gw = await gatewayOver(
      [testInstance('order-service', orders.port), testInstance('product-service', products.port)],
      { requestTimeoutMs: 300, requestTimeouts: { 'order-service': 2000 } },
    );
    expect((await get(`${gw.url}/orders`)).status).toBe(200);
    expect((await get(`${gw.url}/products`)).status).toBe(504);
    expect(orders.seen.map((s) => s.headers['x-request-timeout-ms'])).toEqual(['2000']);
    expect(products.seen.map((s) => s.headers['x-request-timeout-ms'])).toEqual(['300']);
  });

  it('aborts the upstream request when the client goes away', async () => {
    const slow = await upstream(() => {
      /* holds the request open */
    });
    const gw = await gatewayOver([testInstance('product-service', slow.port)]);
    const controller = new AbortController();
    const pending = request(`${gw.url}/products/slow`, { signal: controller.signal }).catch((e: unknown) => e);
    await eventually(() => expect(slow.seen).toHaveLength(1));
    controller.abort();
    await pending;
    await eventually(() => expect(slow.aborted).toEqual(['/products/slow']));
  });
});

describe("a client's deadline (x-request-timeout-ms)", () => {
  it('bounds the upstream call and travels on as what remains; 0 is a 504 that reaches nobody', async () => {
    const up = await upstream();
    const gw = await gatewayOver([testInstance('product-service', up.port)], { requestTimeoutMs: 5000 });

    expect((await get(`${gw.url}/products`, { 'x-request-timeout-ms': '300' })).status).toBe(200);
    expect((await get(`${gw.url}/products`)).status).toBe(200);
    // Nonsense is ignored, as the services ignore it: the gateway's own timeout applies.
    expect((await get(`${gw.url}/products`, { 'x-request-timeout-ms': 'soon' })).status).toBe(200);
    const budgets = up.seen.map((s) => Number(s.headers['x-request-timeout-ms']));
    expect(budgets[0]).toBeLessThanOrEqual(300);
    expect(budgets[0]).toBeGreaterThan(200);
    expect(budgets.slice(1)).toEqual([5000, 5000]);

    const none = await get(`${gw.url}/products`, { 'x-request-timeout-ms': '0', 'x-request-id': 'no-time' });
    expect(none.status).toBe(504);
    expect(problemOf(none).detail).toMatch(/x-request-timeout-ms/);
    expect(none.headers['x-request-id']).toBe('no-time');
    expect(up.seen).toHaveLength(3);
  });

  it('gives up on a hanging upstream when the client stops waiting, not at its own timeout', async () => {
    const slow = await upstream(() => {
      /* never answers */
    });
    const gw = await gatewayOver([testInstance('product-service', slow.port)], { requestTimeoutMs: 10_000 });
    const started = Date.now();
    const res = await get(`${gw.url}/products/1`, { 'x-request-timeout-ms': '250' });
    const took = Date.now() - started;
    expect(res.status).toBe(504);
    expect(took).toBeGreaterThanOrEqual(240);
    expect(took).toBeLessThan(2000);
    await eventually(() => expect(slow.aborted).toEqual(['/products/1']));
  });
});

describe('GET /registry', () => {
  it('shows every instance with its circuit state and in-flight count', async () => {
    let release: (() => void) | undefined;
    const held = await upstream((_req, res) => {
      release = () => res.end('done');
    });
    const dead = await closedPort();
    const heldInstance = testInstance('user-service', held.port, { version: '1.2.3', meta: { pid: String(process.pid) } });
    const deadInstance = testInstance('order-service', dead, { version: '1.2.3', meta: { pid: String(process.pid) } });
    const gw = await gatewayOver([heldInstance, deadInstance], { breaker: { threshold: 1, openMs: 60_000 } });

    const pending = request(`${gw.url}/users/1`).then((r) => r.body.text());
    await eventually(() => expect(release).toBeDefined());
    expect((await get(`${gw.url}/orders`)).status).toBe(502);

    const view = JSON.parse((await get(`${gw.url}/registry`)).text);
    expect(view).toEqual({
      services: [
        {
          name: 'order-service',
          instances: [
            {
              id: deadInstance.id,
              host: '127.0.0.1',
              port: dead,
              version: '1.2.3',
              weight: 1,
              status: 'healthy',
              circuit: 'open',
              in_flight: 0,
              ejected: true,
              ejections: 1,
              meta: { pid: String(process.pid) },
            },
          ],
        },
        {
          name: 'user-service',
          instances: [
            {
              id: heldInstance.id,
              host: '127.0.0.1',
              port: held.port,
              version: '1.2.3',
              weight: 1,
              status: 'healthy',
              circuit: 'closed',
              in_flight: 1,
              ejected: false,
              ejections: 0,
              meta: { pid: String(process.pid) },
            },
          ],
        },
      ],
    });

    release?.();
    expect(await pending).toBe('done');
    await eventually(async () => {
      const after = JSON.parse((await get(`${gw.url}/registry`)).text);
      expect(after.services[1].instances[0].in_flight).toBe(0);
    });
  });
});

describe('stopping', () => {
  it('lets in-flight requests finish, closes their connections, then refuses; stop is idempotent', async () => {
    const releases = new Map<string, () => void>();
    const held = await upstream((req, res) => {
      if (req.url === '/users/streaming') {
        res.write('first half, ');
        releases.set('streaming', () => res.end('second half'));
      } else {
        releases.set('waiting', () => res.end('finished'));
      }
    });
    const gw = await gatewayOver([testInstance('user-service', held.port)]);
    const url = gw.url;
    // One request waits for its upstream's headers; the other is already streaming its body.
    const waiting = request(`${url}/users/waiting`).then(async (r) => ({
      status: r.statusCode,
      text: await r.body.text(),
    }));
    const streaming = await request(`${url}/users/streaming`);
    const chunks: Buffer[] = [];
    const streamed = new Promise<string>((resolve, reject) => {
      streaming.body.on('data', (c: Buffer) => chunks.push(c));
      streaming.body.on('end', () => resolve(Buffer.concat(chunks).toString()));
      streaming.body.on('error', reject);
    });
    await eventually(() => expect(chunks).toHaveLength(1));
    await eventually(() => expect(releases.size).toBe(2));

    const stopped = gw.stop();
    expect(gw.stop()).toBe(stopped);
    for (const release of releases.values()) release();
    expect(await waiting).toEqual({ status: 200, text: 'finished' });
    expect(streaming.statusCode).toBe(200);
    expect(await streamed).toBe('first half, second half');
    // Resolves now, not after the clients' keep-alive connections time out (the test timeout).
    await stopped;
    await expect(request(`${url}/`)).rejects.toThrow();
  });
});
