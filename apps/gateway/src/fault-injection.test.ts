import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, StaticInstanceSource } from '@meshkit/toolkit';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { testInstance } from '../../../test/support/instances.js';
import { checkFaultRules, FaultInjector, type FaultRule, INJECTED_FAULT_TYPE, parseFaultRules } from './fault-injection.js';
import type { GatewayHandle } from './gateway.js';
import { createGatewayApp, type GatewayAppOptions } from './main.js';
import { defaultRoutes } from './route-table.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real HTTP server that counts what reaches it and answers 200 with the path. */
async function upstream(): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, seen };
}


/** The shop's users and products behind a gateway with the given options. */
async function shop(options: Partial<GatewayAppOptions> = {}) {
  const users = await upstream();
  const products = await upstream();
  const source = new StaticInstanceSource([
    testInstance('user-service', users.port),
    testInstance('product-service', products.port),
  ]);
  const gw: GatewayHandle = await createGatewayApp({ source, port: 0, logger: false, ...options });
  await gw.start();
  cleanups.push(() => gw.stop());
  return { gw, users, products };
}

async function get(url: string) {
  const started = performance.now();
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - started };
}

/** mulberry32: a small seeded generator, so "about half" is the same half on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SHAPE = 'GATEWAY_FAULTS must be a JSON array of {prefix, delay?: {ms, percent}, abort?: {status, percent}}: ';

describe('parseFaultRules', () => {
  it('reads valid rules, and nothing from an unset or blank variable', () => {
    expect(parseFaultRules(undefined)).toEqual([]);
    expect(parseFaultRules('  ')).toEqual([]);
    expect(parseFaultRules('[]')).toEqual([]);
    const json = JSON.stringify([
      { prefix: '/products', delay: { ms: 200, percent: 50 }, abort: { status: 503, percent: 12.5 } },
      { prefix: 'user-service', abort: { status: 400, percent: 100 } },
      { prefix: '/orders/user', delay: { ms: 1, percent: 0 } },
    ]);
    expect(parseFaultRules(json)).toEqual([
      { prefix: '/products', delay: { ms: 200, percent: 50 }, abort: { status: 503, percent: 12.5 } },
      { prefix: 'user-service', abort: { status: 400, percent: 100 } },
      { prefix: '/orders/user', delay: { ms: 1, percent: 0 } },
    ]);
  });

  it('refuses each bad value with one line naming GATEWAY_FAULTS and what is wrong', () => {
    const cases: [string, string][] = [
      ['not json', 'not valid JSON'],
      ['{"prefix": "/products"}', 'got an object'],
      ['"/products"', 'got string "/products"'],
      ['null', 'got null'],
      ['[42]', '[0] must be an object, got number 42'],
      ['[{"prefix": "/products", "abort": {"status": 503, "percent": 10}, "retry": 1}]', '[0] has an unknown field "retry"'],
      ['[{"abort": {"status": 503, "percent": 10}}]', '[0].prefix must be a route prefix like /products or a service name'],
      ['[{"prefix": "/products/", "abort": {"status": 503, "percent": 10}}]', '[0].prefix must be a route prefix'],
      ['[{"prefix": "/", "abort": {"status": 503, "percent": 10}}]', '[0].prefix must be a route prefix'],
      ['[{"prefix": "product service", "abort": {"status": 503, "percent": 10}}]', '[0].prefix must be a route prefix'],
      ['[{"prefix": "/products"}]', '[0] (/products) has neither delay nor abort'],
      ['[{"prefix": "/products", "delay": 200}]', '[0].delay must be an object, got number 200'],
      ['[{"prefix": "/products", "delay": {"ms": 0, "percent": 10}}]', '[0].delay.ms must be an integer from 1 to 600000, got 0'],
      ['[{"prefix": "/products", "delay": {"ms": 1.5, "percent": 10}}]', '[0].delay.ms must be an integer'],
      ['[{"prefix": "/products", "delay": {"ms": "200", "percent": 10}}]', '[0].delay.ms must be an integer from 1 to 600000, got "200"'],
      ['[{"prefix": "/products", "delay": {"ms": 200}}]', '[0].delay.percent must be a number from 0 to 100, got nothing'],
      ['[{"prefix": "/products", "delay": {"ms": 200, "percent": 101}}]', '[0].delay.percent must be a number from 0 to 100, got 101'],
      ['[{"prefix": "/products", "delay": {"ms": 200, "percent": -1}}]', '[0].delay.percent must be a number'],
      ['[{"prefix": "/products", "delay": {"ms": 200, "percent": 5, "fixed": true}}]', '[0].delay has an unknown field "fixed"'],
      ['[{"prefix": "/products", "abort": {"status": 200, "percent": 10}}]', '[0].abort.status must be an integer from 400 to 599, got 200'],
      ['[{"prefix": "/products", "abort": {"status": 600, "percent": 10}}]', '[0].abort.status must be an integer from 400 to 599, got 600'],
      ['[{"prefix": "/products", "abort": {"status": 503}}]', '[0].abort.percent must be a number from 0 to 100, got nothing'],
      [
        '[{"prefix": "/products", "abort": {"status": 503, "percent": 1}}, {"prefix": "/products", "delay": {"ms": 5, "percent": 1}}]',
        '[1].prefix "/products" appears twice',
      ],
    ];
    for (const [json, what] of cases) {
      let error: unknown;
      try {
        parseFaultRules(json);
      } catch (err) {
        error = err;
      }
      expect(error, json).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message, json).toContain(SHAPE + what);
      expect(message, json).not.toMatch(/\n/);
    }
    // A JSON syntax error over several lines still makes one line.
    expect(() => parseFaultRules('[\n{\n')).toThrow(/^GATEWAY_FAULTS must be .*: not valid JSON \([^\n]*\)$/);
  });

  it('checks rules given as values the same way, naming them as told', () => {
    expect(() => checkFaultRules([{ prefix: '/x', abort: { status: 99, percent: 1 } }])).toThrow(
      /^faults must be a JSON array .*: \[0\]\.abort\.status must be an integer from 400 to 599, got 99$/,
    );
  });
});

describe('FaultInjector', () => {
  it('refuses a rule that no route could match', () => {
    const rule = (prefix: string): FaultRule[] => [{ prefix, abort: { status: 503, percent: 100 } }];
    expect(() => new FaultInjector(rule('/nothing'), defaultRoutes)).toThrow(/"\/nothing" matches no gateway route/);
    expect(() => new FaultInjector(rule('/productsX'), defaultRoutes)).toThrow(/matches no gateway route/);
    expect(() => new FaultInjector(rule('payment-service'), defaultRoutes)).toThrow(/matches no gateway route/);
    // Under a route, or above one, or naming a routed service: accepted.
    for (const prefix of ['/products', '/products/special', 'product-service']) {
      expect(new FaultInjector(rule(prefix), defaultRoutes).active).toBe(true);
    }
    expect(new FaultInjector(rule('/api'), [{ prefix: '/api/admin', service: 'admin' }]).active).toBe(true);
  });

  it('prefers a path rule to a service rule and the longest path, and draws delay before abort', () => {
    const draws = [0.1, 0.9];
    const injector = new FaultInjector(
      [
        { prefix: 'product-service', abort: { status: 500, percent: 100 } },
        { prefix: '/products', delay: { ms: 10, percent: 50 }, abort: { status: 503, percent: 50 } },
        { prefix: '/products/slow', delay: { ms: 999, percent: 100 } },
      ],
      defaultRoutes,
      () => draws.shift() ?? 0,
    );
    // 0.1 < 50% delays; 0.9 does not abort.
    expect(injector.decide('/products?limit=1', 'product-service')).toMatchObject({ delayMs: 10, header: 'delay' });
    expect(injector.decide('/products/slow/1', 'product-service')).toMatchObject({ delayMs: 999, header: 'delay' });
    // `/productsX` would not be routed to product-service; a service rule covers whatever is.
    expect(injector.decide('/items/1', 'product-service')).toMatchObject({ abortStatus: 500, header: 'abort' });
    expect(injector.decide('/users/1', 'user-service')).toBeUndefined();
  });
});

describe('fault injection through the gateway', () => {
  it('aborts 100%: every request gets the status as problem+json, and the upstream sees none', async () => {
    const { gw, products } = await shop({ faults: [{ prefix: '/products', abort: { status: 503, percent: 100 } }] });
    for (const path of ['/products', '/products/p-1?x=1', '/products/p-1/stock']) {
      const res = await get(`${gw.url}${path}`);
      expect(res.status, path).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-meshkit-fault']).toBe('abort');
      expect(res.headers['x-request-id']).toBeTruthy();
      const body = JSON.parse(res.text);
      expect(body).toMatchObject({ type: INJECTED_FAULT_TYPE, title: 'Injected fault', status: 503 });
      expect(body.detail).toMatch(/fault injection answered 503 instead of calling product-service/);
      expect(body.instance).toBe(path.split('?')[0]);
    }
    const post = await request(`${gw.url}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"x"}',
    });
    expect(post.statusCode).toBe(503);
    await post.body.dump();
    expect(products.seen).toEqual([]);
  });

  it('aborts about half at 50% with seeded dice, and forwards exactly the others', async () => {
    const { gw, products } = await shop({
      faults: [{ prefix: 'product-service', abort: { status: 500, percent: 50 } }],
      faultRandom: seeded(42),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await get(`${gw.url}/products/${i}`)).status);
    const aborted = statuses.filter((s) => s === 500).length;
    expect(aborted).toBeGreaterThan(70);
    expect(aborted).toBeLessThan(130);
    expect(statuses.filter((s) => s === 200)).toHaveLength(200 - aborted);
    expect(products.seen).toHaveLength(200 - aborted);
  });

  it('delays 100% by 200 ms: each answer takes at least that and still comes from the upstream', async () => {
    const { gw, products } = await shop({ faults: [{ prefix: '/products', delay: { ms: 200, percent: 100 } }] });
    const answers = await Promise.all([1, 2, 3].map((i) => get(`${gw.url}/products/${i}`)));
    for (const [i, res] of answers.entries()) {
      expect(res.status).toBe(200);
      expect(res.ms).toBeGreaterThanOrEqual(199);
      expect(res.headers['x-meshkit-fault']).toBe('delay');
      expect(JSON.parse(res.text)).toEqual({ url: `/products/${i + 1}` });
    }
    expect([...products.seen].sort()).toEqual(['/products/1', '/products/2', '/products/3']);
  });

  it('delays then aborts when both are drawn, and never calls an upstream the client left during a delay', async () => {
    const { gw, products } = await shop({
      faults: [{ prefix: '/products', delay: { ms: 300, percent: 100 }, abort: { status: 429, percent: 100 } }],
    });
    const res = await get(`${gw.url}/products`);
    expect(res.status).toBe(429);
    expect(res.ms).toBeGreaterThanOrEqual(299);
    expect(res.headers['x-meshkit-fault']).toBe('delay, abort');

    const left = await shop({ faults: [{ prefix: '/products', delay: { ms: 300, percent: 100 } }] });
    const controller = new AbortController();
    const pending = request(`${left.gw.url}/products/gone`, { signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await pending;
    await new Promise((r) => setTimeout(r, 400));
    expect(left.products.seen).toEqual([]);
    expect(products.seen).toEqual([]);
  });

  it('leaves routes without a rule alone', async () => {
    const { gw, users, products } = await shop({
      faults: [{ prefix: '/products', abort: { status: 503, percent: 100 }, delay: { ms: 500, percent: 100 } }],
    });
    const res = await get(`${gw.url}/users/u-1`);
    expect(res.status).toBe(200);
    expect(res.headers['x-meshkit-fault']).toBeUndefined();
    expect(res.ms).toBeLessThan(500);
    expect(users.seen).toEqual(['/users/u-1']);
    expect((await get(`${gw.url}/products`)).status).toBe(503);
    expect(products.seen).toEqual([]);
  });

  it('shows the active rules at GET /faults, and keeps that path its own', async () => {
    const faults: FaultRule[] = [
      { prefix: '/products', delay: { ms: 50, percent: 10 } },
      { prefix: 'user-service', abort: { status: 502, percent: 1.5 } },
    ];
    const { gw } = await shop({ faults });
    const res = await get(`${gw.url}/faults`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ rules: faults });
    // Read-only: nothing changes them over HTTP.
    const put = await request(`${gw.url}/faults`, { method: 'PUT', body: '[]' });
    expect(put.statusCode).toBe(404);
    await put.body.dump();
    expect(JSON.parse((await get(`${gw.url}/faults`)).text)).toEqual({ rules: faults });

    const source = new StaticInstanceSource([]);
    const taken = createGatewayApp({ source, port: 0, logger: false, routes: [{ prefix: '/faults', service: 's' }] });
    await expect(taken).rejects.toThrow(/collides/);
    const unknown = createGatewayApp({
      source,
      port: 0,
      logger: false,
      faults: [{ prefix: '/nothing', abort: { status: 503, percent: 100 } }],
    });
    await expect(unknown).rejects.toThrow(/matches no gateway route/);
  });

  it('without rules, forwards exactly as before, with no fault header, and GET /faults lists none', async () => {
    const { gw, users, products } = await shop();
    for (const path of ['/users', '/products/p-1?x=1']) {
      const res = await get(`${gw.url}${path}`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ url: path });
      expect(res.headers['x-meshkit-fault']).toBeUndefined();
    }
    expect(users.seen).toEqual(['/users']);
    expect(products.seen).toEqual(['/products/p-1?x=1']);
    expect(JSON.parse((await get(`${gw.url}/faults`)).text)).toEqual({ rules: [] });
  });
});
