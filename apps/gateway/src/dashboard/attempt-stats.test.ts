import { ManualClock, type ServiceInstance } from '@meshkit/toolkit';
import { describe, expect, it } from 'vitest';
import { AttemptStats } from './attempt-stats.js';
import { bucketOf, bucketUpperMs, LATENCY_BUCKETS, quantileMs } from './latency-buckets.js';

describe('latency buckets', () => {
  it('puts a duration in the bucket whose bounds hold it', () => {
    for (const ms of [0.05, 0.1, 0.3, 1, 1.7, 12, 99.9, 250, 4000, 59_000]) {
      const i = bucketOf(ms);
      expect(ms, `bucket ${i}`).toBeLessThanOrEqual(bucketUpperMs(i) * (1 + 1e-9));
      if (i > 0) expect(ms).toBeGreaterThan(bucketUpperMs(i - 1));
    }
  });

  it('sends the fastest to the first bucket and anything past 60 s to the last', () => {
    expect([bucketOf(0), bucketOf(-3), bucketOf(Number.NaN)]).toEqual([0, 0, 0]);
    expect(bucketOf(10 * 60_000)).toBe(LATENCY_BUCKETS - 1);
    expect(bucketUpperMs(LATENCY_BUCKETS - 1)).toBe(Number.POSITIVE_INFINITY);
    expect(bucketUpperMs(LATENCY_BUCKETS - 2)).toBeGreaterThanOrEqual(60_000);
  });

  it('reads quantiles back within the bucket width (19 %), and nothing from nothing', () => {
    const counts = new Uint32Array(LATENCY_BUCKETS);
    for (let ms = 1; ms <= 1000; ms++) counts[bucketOf(ms)]! += 1;
    const p50 = quantileMs(counts, 1000, 0.5)!;
    const p99 = quantileMs(counts, 1000, 0.99)!;
    expect(Math.abs(p50 - 500) / 500).toBeLessThan(0.19);
    expect(Math.abs(p99 - 990) / 990).toBeLessThan(0.19);
    expect(quantileMs(new Uint32Array(LATENCY_BUCKETS), 0, 0.5)).toBeUndefined();
  });
});

function instance(id: string): ServiceInstance {
  return {
    id,
    service: 'product-service',
    version: '1',
    host: '127.0.0.1',
    port: 1,
    weight: 1,
    tags: [],
    meta: {},
    status: 'healthy',
    registeredAt: 0,
    lastHeartbeat: 0,
  };
}

describe('AttemptStats', () => {
  it('counts the rate, error rate and percentiles over the window', () => {
    const clock = new ManualClock(1_000_000);
    const stats = new AttemptStats({ clock, windowSeconds: 10 });
    // 10 s of 20 attempts a second: 19 at 10 ms, one at 200 ms that failed.
    for (let s = 0; s < 10; s++) {
      for (let k = 0; k < 20; k++) {
        stats.record('a', k === 0 ? 200 : 10, k === 0);
      }
      clock.advance(1000);
    }
    clock.advance(-1); // still inside the last second recorded
    const w = stats.read('a');
    expect(w.requests).toBe(200);
    expect(w.perSecond).toBeCloseTo(20, 0);
    expect(w.errorRate).toBeCloseTo(0.05, 5);
    expect(Math.abs(w.p50Ms! - 10) / 10).toBeLessThan(0.19);
    expect(Math.abs(w.p99Ms! - 200) / 200).toBeLessThan(0.19);
  });

  it('forgets seconds older than the window, slot by slot', () => {
    const clock = new ManualClock(5_000);
    const stats = new AttemptStats({ clock, windowSeconds: 3 });
    stats.record('a', 5, true);
    clock.advance(1000);
    stats.record('a', 5, false);
    stats.record('a', 5, false);
    expect(stats.read('a').requests).toBe(3);
    clock.advance(2000); // the first second left the window, the second is still in it
    expect(stats.read('a')).toMatchObject({ requests: 2, errorRate: 0 });
    clock.advance(1000);
    expect(stats.read('a')).toEqual({ requests: 0, perSecond: 0, errorRate: undefined, p50Ms: undefined, p99Ms: undefined });
    // A slot reused by a later second starts from zero.
    stats.record('a', 7, false);
    expect(stats.read('a').requests).toBe(1);
  });

  it('divides a new instance’s attempts by the time since its first one (at least 1 s)', () => {
    const clock = new ManualClock(100_000);
    const stats = new AttemptStats({ clock });
    for (let k = 0; k < 30; k++) stats.record('a', 1, false);
    expect(stats.read('a').perSecond).toBe(30); // 30 in no time: per 1 s, not per 0 s
    clock.advance(3000);
    expect(stats.read('a').perSecond).toBeCloseTo(10, 5);
  });

  it('takes attempts from onAttempt: no status or a 5xx is a failure, a 4xx is not', () => {
    const stats = new AttemptStats({ clock: new ManualClock(0) });
    const a = instance('a');
    stats.onAttempt({ service: a.service, instance: a, status: 200, durationMs: 3 });
    stats.onAttempt({ service: a.service, instance: a, status: 404, durationMs: 3 });
    stats.onAttempt({ service: a.service, instance: a, status: 503, durationMs: 3 });
    stats.onAttempt({ service: a.service, instance: a, status: undefined, durationMs: 3, error: 'ECONNREFUSED' });
    expect(stats.read('a')).toMatchObject({ requests: 4, errorRate: 0.5 });
  });

  it('keeps instances apart, answers zero for an unknown one, and drops those that left', () => {
    const stats = new AttemptStats({ clock: new ManualClock(0) });
    stats.record('a', 1, false);
    stats.record('b', 1, false);
    stats.record('b', 1, false);
    expect([stats.read('a').requests, stats.read('b').requests, stats.read('c').requests]).toEqual([1, 2, 0]);
    stats.retain(new Set(['b']));
    expect(stats.known()).toEqual(['b']);
  });

  it('refuses a window that is not a positive whole number of seconds', () => {
    expect(() => new AttemptStats({ clock: new ManualClock(), windowSeconds: 0 })).toThrow(/windowSeconds/);
    expect(() => new AttemptStats({ clock: new ManualClock(), windowSeconds: 1.5 })).toThrow(/windowSeconds/);
  });
});
