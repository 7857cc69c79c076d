import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SeriesIndex, SeriesMetric } from './labelled-series.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Observations in the order they came: method, route, status, seconds. */
const observations: [string, string, number, number][] = [
  ['GET', '/products/*', 200, 0.0031],
  ['GET', '/products/*', 200, 0.012],
  ['POST', '/orders', 201, 0.26],
  ['GET', '/products/*', 503, 0.0004],
  ['GET', '/products/*', 200, 7.5],
  ['GET', '/users/:id', 404, 11],
  ['POST', '/orders', 201, 0.05],
];

describe('SeriesIndex and SeriesMetric', () => {
  it("expose the same text as prom-client's Counter and Histogram given the same observations", async () => {
    const theirs = new Registry();
    const labelNames = ['method', 'route', 'status_code'] as const;
    const counter = new Counter({ name: 'http_requests_total', help: 'requests', labelNames, registers: [theirs] });
    const histogram = new Histogram({ name: 'http_request_duration_seconds', help: 'time', labelNames, buckets: BUCKETS, registers: [theirs] });

    const ours = new Registry();
    const index = new SeriesIndex(labelNames, BUCKETS);
    new SeriesMetric('http_requests_total', 'requests', 'counter', index).register(ours);
    new SeriesMetric('http_request_duration_seconds', 'time', 'histogram', index).register(ours);

    for (const [method, route, status_code, seconds] of observations) {
      counter.inc({ method, route, status_code });
      histogram.observe({ method, route, status_code }, seconds);
      index.observe(seconds, method, route, status_code);
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('http_request_duration_seconds_bucket{le="0.005",method="GET",route="/products/*",status_code="200"} 1');
    // The JSON form too (what prom-client's cluster aggregation reads), undefined fields aside.
    const json = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
    expect(await json(ours)).toEqual(await json(theirs));
  });

  it('finds a series by its label values, and drops the series a predicate names', () => {
    const index = new SeriesIndex(['service', 'instance']);
    index.observe(1, 'users', 'u-1');
    index.observe(1, 'users', 'u-1');
    index.observe(1, 'users', 'u-2');
    index.observe(1, 'orders', 'o-1');
    expect(index.series('users', 'u-1').count).toBe(2);
    index.removeWhere((labels) => labels.instance !== 'u-2');
    expect([...index.all()].map((s) => s.labels)).toEqual([{ service: 'users', instance: 'u-2' }]);
    // Gone means gone: the next observation starts a fresh series.
    index.observe(1, 'users', 'u-1');
    expect(index.series('users', 'u-1').count).toBe(1);
    index.clear();
    expect([...index.all()]).toEqual([]);
  });

  it('refuses a label count it does not handle', () => {
    expect(() => new SeriesIndex(['only'])).toThrow(/two or three/);
  });
});
