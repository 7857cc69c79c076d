import { Type } from 'typebox';
import { Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceApp } from '../service/create-app.js';
import type { ServiceApp } from '../service/types.js';
import { metricValue as sample, parseMetricSamples } from './prometheus-text.js';

const apps: ServiceApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function build(): ServiceApp {
  const app = createServiceApp({ logger: false });
  apps.push(app);
  app.get(
    '/users/:id',
    { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } },
    async (request) => ({ id: request.params.id }),
  );
  app.get('/boom', async () => {
    throw new Error('broken');
  });
  return app;
}

async function scrape(app: ServiceApp): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

const uuid = () => crypto.randomUUID();

describe('/metrics', () => {
  it('counts requests by route template, never by raw path', async () => {
    const app = build();
    for (let i = 0; i < 3; i += 1) await app.inject({ method: 'GET', url: `/users/${uuid()}` });
    const text = await scrape(app);
    const labels = { method: 'GET', route: '/users/:id', status_code: '200' };
    expect(sample(text, 'http_requests_total', labels)).toBe(3);
    expect(sample(text, 'http_request_duration_seconds_count', labels)).toBe(3);
    expect(sample(text, 'http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(3);
    expect(text).not.toMatch(/route="\/users\/[0-9a-f]{8}-/);
  });

  it('counts 4xx, 5xx and unmatched paths (as not_found)', async () => {
    const app = build();
    await app.inject({ method: 'GET', url: '/users/not-a-uuid' });
    await app.inject({ method: 'GET', url: '/boom' });
    await app.inject({ method: 'GET', url: '/boom' });
    await app.inject({ method: 'DELETE', url: `/nowhere/${uuid()}` });
    const text = await scrape(app);
    expect(sample(text, 'http_requests_total', { route: '/users/:id', status_code: '400' })).toBe(1);
    expect(sample(text, 'http_requests_total', { route: '/boom', status_code: '500' })).toBe(2);
    expect(sample(text, 'http_requests_total', { method: 'DELETE', route: 'not_found', status_code: '404' })).toBe(1);
  });

  it('does not count itself, and serves the process metrics', async () => {
    const app = build();
    await scrape(app);
    await scrape(app);
    const text = await scrape(app);
    expect(text).not.toContain('route="/metrics"');
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('gives each app its own registry, to which others add collectors', async () => {
    const a = build();
    const b = build();
    await a.inject({ method: 'GET', url: `/users/${uuid()}` });
    new Counter({ name: 'orders_placed_total', help: 'orders', registers: [b.metrics] }).inc(2);
    const textA = await scrape(a);
    const textB = await scrape(b);
    expect(sample(textA, 'http_requests_total', { route: '/users/:id' })).toBe(1);
    expect(sample(textB, 'http_requests_total', { route: '/users/:id' })).toBeUndefined();
    expect(sample(textB, 'orders_placed_total')).toBe(2);
    expect(textA).not.toContain('orders_placed_total');
  });
});

describe('parseMetricSamples', () => {
  it('reads names, escaped label values and values, skipping comments', () => {
    const text = '# HELP x y\n# TYPE x counter\nx{a="1",b="q\\"uote"} 2.5\nplain 7\nbad line\ninf +Inf\n';
    expect(parseMetricSamples(text)).toEqual([
      { name: 'x', labels: { a: '1', b: 'q"uote' }, value: 2.5 },
      { name: 'plain', labels: {}, value: 7 },
      { name: 'inf', labels: {}, value: Number.POSITIVE_INFINITY },
    ]);
    expect(sample(text, 'x', { a: '1' })).toBe(2.5);
    expect(sample(text, 'x', { a: '2' })).toBeUndefined();
  });
});
