import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/config.js';
import { defineService } from './define-service.js';
import {
  checkFaultRules,
  type FaultRule,
  INJECTED_FAULT_TYPE,
  parseFaultRules,
  rollFault,
  ServiceFaults,
} from './fault-injection.js';
import type { ServiceHandle, ServiceOptions } from './types.js';

const handles: ServiceHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop()));
});

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

/** A products-like service counting the requests its handlers ran. */
async function products(options: Partial<ServiceOptions>) {
  const ran: string[] = [];
  const handle = await defineService(
    {
      name: 'product-service',
      routes(app) {
        app.get('/products', async () => {
          ran.push('list');
          return [];
        });
        app.get('/products/:id', async (r) => {
          ran.push(`get ${(r.params as { id: string }).id}`);
          return { id: (r.params as { id: string }).id };
        });
        app.post('/products', async (_r, reply) => {
          ran.push('create');
          reply.code(201);
          return { created: true };
        });
        app.get('/stats', async () => {
          ran.push('stats');
          return { n: 1 };
        });
      },
    },
    { port: 0, logger: false, ...options },
  );
  handles.push(handle);
  return { handle, ran };
}

const SHAPE = 'SERVICE_FAULTS must be a JSON array of {prefix, delay?: {ms, percent}, abort?: {status, percent}}: ';

describe('parseFaultRules (toolkit)', () => {
  it('names the variable it was given in every message, on one line', () => {
    expect(parseFaultRules(undefined, 'SERVICE_FAULTS')).toEqual([]);
    expect(parseFaultRules(' ', 'SERVICE_FAULTS')).toEqual([]);
    expect(parseFaultRules('[{"prefix":"/products","delay":{"ms":100,"percent":100}}]', 'SERVICE_FAULTS')).toEqual([
      { prefix: '/products', delay: { ms: 100, percent: 100 } },
    ]);
    const cases: [string, string][] = [
      ['{}', 'got an object'],
      ['[{"prefix":"/products","abort":{"status":500}}]', '[0].abort.percent must be a number from 0 to 100, got nothing'],
      ['[{"prefix":"/products","delay":{"ms":0,"percent":5}}]', '[0].delay.ms must be an integer from 1 to 600000, got 0'],
    ];
    for (const [json, what] of cases) {
      let error: unknown;
      try {
        parseFaultRules(json, 'SERVICE_FAULTS');
      } catch (err) {
        error = err;
      }
      expect(error, json).toBeInstanceOf(ConfigError);
      expect((error as Error).message, json).toBe(SHAPE + what);
    }
    expect(() => parseFaultRules('[\n{', 'SERVICE_FAULTS')).toThrow(/^SERVICE_FAULTS must be .*: not valid JSON \([^\n]*\)$/);
    expect(() => checkFaultRules('x', 'rules')).toThrow(/^rules must be a JSON array .*: got string "x"$/);
  });
});

describe('rollFault', () => {
  it('draws delay before abort, each on its own percentage', () => {
    const rule: FaultRule = { prefix: '/p', delay: { ms: 5, percent: 50 }, abort: { status: 503, percent: 50 } };
    const dice = (...draws: number[]) => () => draws.shift() ?? 0.99;
    expect(rollFault(rule, dice(0.1, 0.9))).toMatchObject({ delayMs: 5, header: 'delay' });
    expect(rollFault(rule, dice(0.9, 0.1))).toMatchObject({ delayMs: 0, abortStatus: 503, header: 'abort' });
    expect(rollFault(rule, dice(0.1, 0.1))).toMatchObject({ delayMs: 5, abortStatus: 503, header: 'delay, abort' });
    expect(rollFault(rule, dice(0.9, 0.9))).toBeUndefined();
    // 0 % never fires, whatever the dice say.
    expect(rollFault({ prefix: '/p', abort: { status: 500, percent: 0 } }, () => 0)).toBeUndefined();
  });
});

describe('ServiceFaults', () => {
  it('matches the longest path prefix, then a rule naming the service; never health paths', () => {
    const faults = new ServiceFaults(
      [
        { prefix: 'product-service', abort: { status: 500, percent: 100 } },
        { prefix: '/products', abort: { status: 503, percent: 100 } },
        { prefix: '/products/special', abort: { status: 429, percent: 100 } },
        { prefix: 'user-service', abort: { status: 418, percent: 100 } },
      ],
      'product-service',
      () => 0,
    );
    expect(faults.decide('/products?limit=1')?.abortStatus).toBe(503);
    expect(faults.decide('/products/special/1')?.abortStatus).toBe(429);
    expect(faults.decide('/productsX')?.abortStatus).toBe(500); // not under /products: the service rule
    expect(faults.decide('/stats')?.abortStatus).toBe(500);
    for (const path of ['/health', '/health/ready', '/health/live?x=1', '/info']) {
      expect(faults.decide(path), path).toBeUndefined();
    }
    // Another service's rule is kept but matches nothing here.
    const users = new ServiceFaults([{ prefix: 'product-service', abort: { status: 500, percent: 100 } }], 'user-service', () => 0);
    expect(users.active).toBe(false);
    expect(users.decide('/users')).toBeUndefined();
  });

  it('refuses a rule on a health path, which is never faulted', () => {
    for (const prefix of ['/health', '/health/ready', '/info']) {
      expect(() => new ServiceFaults([{ prefix, abort: { status: 503, percent: 100 } }], 's')).toThrow(
        /would fault a health route/,
      );
    }
  });
});

describe('fault injection in defineService (ServiceOptions.faults)', () => {
  it('aborts 100 % under a prefix: problem+json, the handler never runs; other routes and health untouched', async () => {
    const { handle, ran } = await products({ faults: [{ prefix: '/products', abort: { status: 503, percent: 100 } }] });
    for (const [method, url] of [
      ['GET', '/products'],
      ['GET', '/products/p-1?x=1'],
      ['POST', '/products'],
    ] as const) {
      const res = await handle.app.inject({ method, url, ...(method === 'POST' ? { payload: { name: 'x' } } : {}) });
      expect(res.statusCode, url).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-meshkit-fault']).toBe('abort');
      expect(res.headers['x-request-id']).toBeTruthy();
      const body = res.json();
      expect(body).toMatchObject({ type: INJECTED_FAULT_TYPE, title: 'Injected fault', status: 503 });
      expect(body.detail).toMatch(/product-service's fault injection answered 503 instead of running/);
      expect(body.instance).toBe(url.split('?')[0]);
    }
    expect(ran).toEqual([]);
    const stats = await handle.app.inject({ method: 'GET', url: '/stats' });
    expect(stats.statusCode).toBe(200);
    expect(stats.headers['x-meshkit-fault']).toBeUndefined();
    await handle.start();
    for (const url of ['/health', '/health/live', '/health/ready', '/info']) {
      const res = await handle.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['x-meshkit-fault']).toBeUndefined();
    }
    expect(ran).toEqual(['stats']);
  });

  it('a service-name rule faults every route of that service, health aside', async () => {
    const { handle, ran } = await products({ faults: [{ prefix: 'product-service', abort: { status: 500, percent: 100 } }] });
    expect((await handle.app.inject({ method: 'GET', url: '/stats' })).statusCode).toBe(500);
    expect((await handle.app.inject({ method: 'GET', url: '/nowhere' })).statusCode).toBe(500);
    expect((await handle.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect(ran).toEqual([]);
  });

  it('aborts about half at 50 % with seeded dice, and runs exactly the others', async () => {
    const { handle, ran } = await products({
      faults: [{ prefix: '/products', abort: { status: 500, percent: 50 } }],
      faultRandom: seeded(7),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await handle.app.inject({ method: 'GET', url: `/products/${i}` })).statusCode);
    const aborted = statuses.filter((s) => s === 500).length;
    expect(aborted).toBeGreaterThan(70);
    expect(aborted).toBeLessThan(130);
    expect(statuses.filter((s) => s === 200)).toHaveLength(200 - aborted);
    expect(ran).toHaveLength(200 - aborted);
  });

  it('delays 100 % by 150 ms: each answer takes at least that and still comes from the handler', async () => {
    const { handle, ran } = await products({ faults: [{ prefix: '/products', delay: { ms: 150, percent: 100 } }] });
    await handle.start();
    const timed = async (path: string) => {
      const started = performance.now();
      const res = await fetch(`${handle.url}${path}`);
      return { res, body: await res.json(), ms: performance.now() - started };
    };
    const answers = await Promise.all(['/products/1', '/products/2'].map(timed));
    for (const { res, body, ms } of answers) {
      expect(res.status).toBe(200);
      expect(res.headers.get('x-meshkit-fault')).toBe('delay');
      expect(ms).toBeGreaterThanOrEqual(145);
      expect(body).toHaveProperty('id');
    }
    const stats = await timed('/stats');
    expect(stats.res.headers.get('x-meshkit-fault')).toBeNull();
    expect(ran.sort()).toEqual(['get 1', 'get 2', 'stats']);
  });

  it('a delay longer than the caller waits ends at its deadline with 504, and the handler never runs', async () => {
    const { handle, ran } = await products({ faults: [{ prefix: '/products', delay: { ms: 5000, percent: 100 } }] });
    await handle.start();
    const started = performance.now();
    const res = await fetch(`${handle.url}/products`, { headers: { 'x-request-timeout-ms': '200' } });
    const ms = performance.now() - started;
    expect(res.status).toBe(504);
    expect(res.headers.get('x-meshkit-fault')).toBe('delay');
    expect(ms).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toEqual([]);
  });

  it('without rules, nothing is faulted; a rule on a health path refuses to build', async () => {
    const { handle } = await products({});
    const res = await handle.app.inject({ method: 'GET', url: '/products' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-meshkit-fault']).toBeUndefined();
    await expect(products({ faults: [{ prefix: '/health', abort: { status: 503, percent: 100 } }] })).rejects.toThrow(
      ConfigError,
    );
  });
});
