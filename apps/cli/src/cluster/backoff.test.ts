import { describe, expect, it } from 'vitest';
import { RestartBackoff } from './backoff.js';

describe('RestartBackoff', () => {
  it('doubles from 250 ms per consecutive crash and stops at 10 s', () => {
    const backoff = new RestartBackoff();
    const delays = Array.from({ length: 9 }, () => backoff.next(100));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    for (let i = 0; i < 2000; i++) expect(backoff.next(100)).toBe(10_000);
  });

  it('starts over after a run that lasted the reset time', () => {
    const backoff = new RestartBackoff({ initialMs: 100, maxMs: 1000, resetAfterMs: 5000 });
    expect([backoff.next(0), backoff.next(4999), backoff.next(10)]).toEqual([100, 200, 400]);
    expect(backoff.next(5000)).toBe(100);
    expect(backoff.next(10)).toBe(200);
  });
});
