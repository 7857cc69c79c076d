import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { RetryBudget } from './retry-budget.js';

function withdrawAll(budget: RetryBudget, max = 10_000): number {
  let n = 0;
  while (n < max && budget.tryWithdraw()) n += 1;
  return n;
}

describe('RetryBudget (20 % of the last 10 s + 3 per second)', () => {
  it('a quiet client still gets the reserve: 3/s × 10 s', () => {
    const budget = new RetryBudget({ clock: new ManualClock(0) });
    expect(budget.canRetry()).toBe(true);
    expect(withdrawAll(budget)).toBe(30);
    expect(budget.canRetry()).toBe(false);
  });

  it('every 5 requests add one retry', () => {
    const budget = new RetryBudget({ clock: new ManualClock(0), minPerSecond: 0 });
    expect(budget.tryWithdraw()).toBe(false);
    for (let i = 0; i < 4; i++) budget.deposit();
    expect(budget.tryWithdraw()).toBe(false);
    budget.deposit();
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    for (let i = 0; i < 100; i++) budget.deposit();
    expect(withdrawAll(budget)).toBe(20);
  });

  it('under a storm, retries stay within ratio × requests + reserve', () => {
    const clock = new ManualClock(0);
    const budget = new RetryBudget({ clock });
    let retries = 0;
    for (let request = 1; request <= 1000; request++) {
      budget.deposit();
      // Every request fails and would retry twice.
      for (let r = 0; r < 2; r++) if (budget.tryWithdraw()) retries += 1;
      expect(retries).toBeLessThanOrEqual(0.2 * request + 30);
      if (request % 10 === 0) clock.advance(50); // 200 requests a second
    }
    // All 1000 requests fall within 5 s, inside one window: the budget is spent, not exceeded.
    expect(retries).toBeGreaterThan(200);
    expect(retries).toBeLessThanOrEqual(0.2 * 1000 + 30);
  });

  it('the window slides: old requests and retries stop counting', () => {
    const clock = new ManualClock(0);
    const budget = new RetryBudget({ clock, minPerSecond: 1, windowMs: 1000 });
    for (let i = 0; i < 50; i++) budget.deposit();
    expect(withdrawAll(budget)).toBe(11); // 10 + 1 reserve
    clock.advance(500);
    expect(budget.canRetry()).toBe(false);
    clock.advance(500); // the deposits and withdrawals of t=0 left the window
    expect(budget.balance()).toBe(1);
    expect(withdrawAll(budget)).toBe(1);
    clock.advance(999);
    expect(budget.canRetry()).toBe(false);
    clock.advance(1);
    expect(budget.canRetry()).toBe(true);
  });

  it('refuses nonsense options', () => {
    expect(() => new RetryBudget({ ratio: -0.1 })).toThrow(RangeError);
    expect(() => new RetryBudget({ minPerSecond: Number.NaN })).toThrow(RangeError);
    expect(() => new RetryBudget({ windowMs: 0 })).toThrow(RangeError);
  });
});
