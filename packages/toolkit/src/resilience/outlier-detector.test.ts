import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { OutlierDetector } from './outlier-detector.js';

const PEERS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];

function failTimes(detector: OutlierDetector, id: string, n: number, peers = PEERS): boolean[] {
  return Array.from({ length: n }, () => detector.record(id, 'failure', peers));
}

describe('OutlierDetector (Envoy defaults but 50 % max ejection)', () => {
  it('ejects after 5 consecutive failures; a success in between starts the count again', () => {
    const clock = new ManualClock(1_000);
    const detector = new OutlierDetector({ clock });
    expect(failTimes(detector, 'a', 4)).toEqual([false, false, false, false]);
    detector.record('a', 'success', PEERS);
    expect(failTimes(detector, 'a', 4)).toEqual([false, false, false, false]);
    expect(detector.isEjected('a')).toBe(false);
    expect(detector.record('a', 'failure', PEERS)).toBe(true);
    expect(detector.state('a')).toMatchObject({ ejected: true, ejectedUntil: 31_000, timesEjected: 1, ejections: 1 });
    expect(detector.ejectedForMs('a')).toBe(30_000);
  });

  it('ejects at once on a refused connection, and the instance returns when the time is up', () => {
    const clock = new ManualClock(0);
    const detector = new OutlierDetector({ clock });
    expect(detector.record('a', 'refused', PEERS)).toBe(true);
    clock.advance(29_999);
    expect(detector.isEjected('a')).toBe(true);
    expect(detector.ejectedForMs('a')).toBe(1);
    clock.advance(1);
    expect(detector.isEjected('a')).toBe(false);
    expect(detector.ejectedForMs('a')).toBe(0);
    expect(detector.state('a').ejections).toBe(1);
  });

  it('late failures while ejected neither extend the ejection nor count towards the next one', () => {
    const clock = new ManualClock(0);
    const detector = new OutlierDetector({ clock });
    detector.record('a', 'refused', PEERS);
    clock.advance(10_000);
    expect(failTimes(detector, 'a', 10)).toEqual(Array(10).fill(false));
    expect(detector.record('a', 'refused', PEERS)).toBe(false);
    expect(detector.ejectedForMs('a')).toBe(20_000);
    clock.advance(20_000);
    expect(detector.state('a')).toMatchObject({ ejected: false, consecutiveFailures: 0 });
  });

  it('each re-ejection lasts base × times ejected, capped at maxEjectionMs', () => {
    const clock = new ManualClock(0);
    const detector = new OutlierDetector({ clock });
    const lengths: number[] = [];
    for (let i = 0; i < 12; i++) {
      expect(detector.record('a', 'refused', PEERS)).toBe(true);
      const length = detector.ejectedForMs('a');
      lengths.push(length);
      clock.advance(length); // back, and refused again at once
    }
    expect(lengths).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300].map((s) => s * 1000));
    expect(detector.state('a')).toMatchObject({ timesEjected: 12, ejections: 12 });
  });

  it('the multiplier decays by one per ejection-free base period', () => {
    const clock = new ManualClock(0);
    const detector = new OutlierDetector({ clock });
    detector.record('a', 'refused', PEERS); // 30 s
    clock.advance(30_000);
    detector.record('a', 'refused', PEERS); // 60 s
    clock.advance(60_000);
    detector.record('a', 'refused', PEERS); // 90 s
    clock.advance(90_000);
    expect(detector.state('a').timesEjected).toBe(3);
    clock.advance(29_999);
    expect(detector.state('a').timesEjected).toBe(3);
    clock.advance(1);
    expect(detector.state('a').timesEjected).toBe(2);
    detector.record('a', 'refused', PEERS);
    expect(detector.ejectedForMs('a')).toBe(90_000);
    clock.advance(90_000 + 3 * 30_000);
    expect(detector.state('a').timesEjected).toBe(0);
    detector.record('a', 'refused', PEERS);
    expect(detector.ejectedForMs('a')).toBe(30_000);
    expect(detector.state('a').ejections).toBe(5);
  });

  it('never ejects more than maxEjectionPercent of the peers at once, but always allows one', () => {
    const clock = new ManualClock(0);
    const three = ['a', 'b', 'c'];
    const detector = new OutlierDetector({ clock });
    expect(detector.record('a', 'refused', three)).toBe(true);
    expect(detector.record('b', 'refused', three)).toBe(false);
    expect(failTimes(detector, 'c', 6, three).some(Boolean)).toBe(false);
    expect(three.filter((id) => detector.isEjected(id))).toEqual(['a']);
    // Once a's ejection ends there is room again: c's next failure (its count stayed high) ejects it.
    clock.advance(30_000);
    expect(detector.record('c', 'failure', three)).toBe(true);
    expect(three.filter((id) => detector.isEjected(id))).toEqual(['c']);

    const lone = new OutlierDetector({ clock, maxEjectionPercent: 0 });
    expect(lone.record('x', 'refused', ['x'])).toBe(true);
    expect(lone.record('y', 'refused', ['x', 'y'])).toBe(false);

    const four = ['a', 'b', 'c', 'd'];
    const half = new OutlierDetector({ clock });
    expect(four.map((id) => half.record(id, 'refused', four))).toEqual([true, true, false, false]);
  });

  it('panic: fewer than panicThresholdPercent available', () => {
    const detector = new OutlierDetector();
    expect(detector.panic(3, 2)).toBe(false);
    expect(detector.panic(3, 1)).toBe(true);
    expect(detector.panic(2, 1)).toBe(false);
    expect(detector.panic(1, 0)).toBe(true);
    expect(detector.panic(0, 0)).toBe(false);
    expect(new OutlierDetector({ panicThresholdPercent: 0 }).panic(3, 0)).toBe(false);
  });

  it('forgets an instance that left', () => {
    const detector = new OutlierDetector({ clock: new ManualClock() });
    detector.record('a', 'refused', PEERS);
    detector.forget('a');
    expect(detector.state('a')).toMatchObject({ ejected: false, ejections: 0 });
  });

  it('refuses nonsense options', () => {
    expect(() => new OutlierDetector({ consecutive5xx: 0 })).toThrow(RangeError);
    expect(() => new OutlierDetector({ baseEjectionMs: 0 })).toThrow(RangeError);
    expect(() => new OutlierDetector({ baseEjectionMs: 10, maxEjectionMs: 5 })).toThrow(RangeError);
    expect(() => new OutlierDetector({ maxEjectionPercent: 101 })).toThrow(RangeError);
    expect(() => new OutlierDetector({ panicThresholdPercent: -1 })).toThrow(RangeError);
    expect(() => new OutlierDetector({ maxEjectionPercent: Number.NaN })).toThrow(RangeError);
  });
});
