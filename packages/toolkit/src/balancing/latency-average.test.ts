import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { LatencyAverage } from './latency-average.js';

describe('LatencyAverage', () => {
  it('knows nothing before the first sample, then starts at it', () => {
    const average = new LatencyAverage({ clock: new ManualClock() });
    expect(average.get()).toBeUndefined();
    average.observe(12);
    expect(average.get()).toBe(12);
  });

  it('moves a tenth of the way toward each sample: one peak barely counts, a slow instance stays slow', () => {
    const clock = new ManualClock();
    const fast = new LatencyAverage({ clock });
    fast.observe(2);
    fast.observe(40); // one queueing peak
    expect(fast.get()).toBeCloseTo(5.8, 9);
    const slow = new LatencyAverage({ clock });
    for (let i = 0; i < 20; i++) slow.observe(20);
    expect(slow.get()).toBe(20);
  });

  it('decays toward 0 while no samples come, so a passed-over instance is tried again', () => {
    const clock = new ManualClock();
    const average = new LatencyAverage({ clock, decayMs: 10_000 });
    average.observe(20);
    clock.advance(10_000);
    expect(average.get()).toBeCloseTo(20 * Math.exp(-1), 9);
    // The next sample averages with the decayed value.
    average.observe(20);
    expect(average.get()).toBeCloseTo(20 * Math.exp(-1) + 0.1 * (20 - 20 * Math.exp(-1)), 9);
  });

  it('refuses a sample weight outside (0, 1] and a non-positive time constant', () => {
    expect(() => new LatencyAverage({ sampleWeight: 0 })).toThrow(RangeError);
    expect(() => new LatencyAverage({ decayMs: -1 })).toThrow(RangeError);
  });
});
