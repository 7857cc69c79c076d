import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { CircuitBreaker } from './circuit-breaker.js';

/** One admitted call that ends with the given outcome. */
function call(breaker: CircuitBreaker, outcome: 'ok' | 'fail'): boolean {
  if (!breaker.acquire()) return false;
  if (outcome === 'ok') breaker.success();
  else breaker.failure();
  return true;
}

describe('CircuitBreaker (seed defaults: 5 consecutive failures, 60 s open, one probe)', () => {
  it('tells the whole story on a manual clock', () => {
    const clock = new ManualClock(1_000_000);
    const breaker = new CircuitBreaker({ clock });

    // Four failures stay closed; a success resets the count.
    for (let i = 0; i < 4; i++) expect(call(breaker, 'fail')).toBe(true);
    expect(breaker.state).toBe('closed');
    expect(call(breaker, 'ok')).toBe(true);
    for (let i = 0; i < 4; i++) call(breaker, 'fail');
    expect(breaker.state).toBe('closed');
    expect(breaker.available()).toBe(true);

    // The fifth consecutive failure opens it.
    call(breaker, 'fail');
    expect(breaker.state).toBe('open');
    expect(breaker.available()).toBe(false);
    expect(breaker.acquire()).toBe(false);
    expect(breaker.retryAfterMs()).toBe(60_000);

    // Refused until 60 s have passed.
    clock.advance(59_999);
    expect(breaker.available()).toBe(false);
    expect(breaker.acquire()).toBe(false);
    expect(breaker.retryAfterMs()).toBe(1);

    // Then half-open: one probe admitted, a second concurrent one is not.
    clock.advance(1);
    expect(breaker.state).toBe('half_open');
    expect(breaker.retryAfterMs()).toBe(0);
    expect(breaker.available()).toBe(true);
    expect(breaker.acquire()).toBe(true);
    expect(breaker.available()).toBe(false);
    expect(breaker.acquire()).toBe(false);
    expect(breaker.state).toBe('half_open');

    // The probe fails: open for another 60 s.
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs()).toBe(60_000);
    clock.advance(30_000);
    expect(breaker.acquire()).toBe(false);
    clock.advance(30_000);

    // The next probe succeeds: closed, and the count starts from zero.
    expect(breaker.acquire()).toBe(true);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.available()).toBe(true);
    for (let i = 0; i < 4; i++) call(breaker, 'fail');
    expect(breaker.state).toBe('closed');
  });

  it('available() never changes the state', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, threshold: 1, openMs: 10 });
    call(breaker, 'fail');
    clock.advance(10);
    for (let i = 0; i < 3; i++) expect(breaker.available()).toBe(true);
    expect(breaker.acquire()).toBe(true);
    expect(breaker.acquire()).toBe(false);
  });

  it('release() frees the probe slot without a verdict', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, threshold: 1, openMs: 10 });
    call(breaker, 'fail');
    clock.advance(10);
    expect(breaker.acquire()).toBe(true);
    expect(breaker.retryAfterMs()).toBeGreaterThan(0);
    breaker.release();
    expect(breaker.state).toBe('half_open');
    expect(breaker.acquire()).toBe(true);
  });

  it('late outcomes of calls admitted before it opened do not move an open circuit', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, threshold: 2, openMs: 100 });
    expect(breaker.acquire()).toBe(true);
    expect(breaker.acquire()).toBe(true);
    expect(breaker.acquire()).toBe(true);
    breaker.failure();
    breaker.failure();
    expect(breaker.state).toBe('open');
    clock.advance(50);
    breaker.success();
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs()).toBe(50);
  });

  it('takes a custom threshold and open time', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, threshold: 2, openMs: 500 });
    call(breaker, 'fail');
    expect(breaker.state).toBe('closed');
    call(breaker, 'fail');
    expect(breaker.state).toBe('open');
    clock.advance(500);
    expect(breaker.state).toBe('half_open');
  });
});
