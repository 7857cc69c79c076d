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

  it('a sample at the same instant as the last update does not move a higher estimate', () => {
    const clock = new ManualClock();
    const ewma = new PeakEwma({ clock, defaultRttMs: 50 });
    expect(ewma.observe(5)).toBe(50);
  });

  it('defaults: 10 s time constant', () => {
    const clock = new ManualClock();
    const ewma = new PeakEwma({ clock, defaultRttMs: 100 });
    clock.advance(10_000);
    expect(ewma.get()).toBeCloseTo(100 * Math.exp(-1), 6);
  });

  it('refuses a non-positive time constant', () => {
    expect(() => new PeakEwma({ decayMs: 0 })).toThrow(RangeError);
  });
});
