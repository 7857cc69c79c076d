import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { PeakEwma } from './peak-ewma.js';

describe('PeakEwma', () => {
  // tower's `default_decay`: the default estimate decays, so new instances get considered.
  it('decays the default estimate over time', () => {
    const clock = new ManualClock(1000);
    const ewma = new PeakEwma({ clock, defaultRttMs: 10, decayMs: 1000 });
    expect(ewma.get()).toBe(10);
    clock.advance(100);
    const first = ewma.get();
    expect(first).toBeGreaterThan(9);
    expect(first).toBeLessThan(10);
    clock.advance(100);
    const second = ewma.get();
    expect(second).toBeGreaterThan(8);
    expect(second).toBeLessThan(9);
  });

  it('jumps to a peak at once and decays back toward lower samples', () => {
    const clock = new ManualClock();
    const ewma = new PeakEwma({ clock, defaultRttMs: 10, decayMs: 10_000 });
    expect(ewma.observe(400)).toBe(400);
    clock.advance(10_000);
    // One time constant later a 10 ms sample moves it 1 - 1/e of the way.
    const next = ewma.observe(10);
    expect(next).toBeCloseTo(10 + 390 * Math.exp(-1), 6);
  });

  it('a lower sample moves the estimate at least a tenth of the way, however soon it follows the last', () => {
    const clock = new ManualClock();
    const ewma = new PeakEwma({ clock, defaultRttMs: 50 });
    expect(ewma.observe(5)).toBeCloseTo(45.5, 9);
    // Under load: a 40 ms queueing peak, then fast answers every 0.1 ms. By time alone the
    // estimate would still be ~40 after 30 of them; with the floor it is back near 2 ms.
    ewma.observe(40);
    for (let i = 0; i < 30; i++) {
      clock.advance(0.1);
      ewma.observe(2);
    }
    expect(ewma.get()).toBeLessThan(4);
    const byTimeAlone = new PeakEwma({ clock, defaultRttMs: 40, minSampleWeight: 0 });
    for (let i = 0; i < 30; i++) {
      clock.advance(0.1);
      byTimeAlone.observe(2);
    }
    expect(byTimeAlone.get()).toBeGreaterThan(39);
  });

  it('reading does not change the estimate', () => {
    const clock = new ManualClock();
    const ewma = new PeakEwma({ clock, defaultRttMs: 20, decayMs: 1000 });
    clock.advance(500);
    const once = ewma.get();
    expect(ewma.get()).toBe(once);
    expect(ewma.observe(100)).toBe(100);
  });

  it('defaults: 10 s time constant', () => {
    const clock = new ManualClock();
    const ewma = new PeakEwma({ clock, defaultRttMs: 100 });
    clock.advance(10_000);
    expect(ewma.get()).toBeCloseTo(100 * Math.exp(-1), 6);
  });

  it('refuses a non-positive time constant and a sample weight outside 0..1', () => {
    expect(() => new PeakEwma({ decayMs: 0 })).toThrow(RangeError);
    expect(() => new PeakEwma({ minSampleWeight: 1.5 })).toThrow(RangeError);
  });
});
