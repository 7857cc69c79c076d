import { describe, expect, it } from 'vitest';
import { candidate } from './candidates.test-suite.js';
import { WeightedStrategy } from './weighted.js';

describe('WeightedStrategy (smooth weighted round robin)', () => {
  it('weights 1:2:3 give exactly 100/200/300 of 600 picks', () => {
    const w = new WeightedStrategy();
    const list = [candidate('a', { weight: 1 }), candidate('b', { weight: 2 }), candidate('c', { weight: 3 })];
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 600; i++) {
      const id = w.pick(list, {}).instance.id;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 100, b: 200, c: 300 });
  });

  it('interleaves: the heaviest never comes three times in a row', () => {
    const w = new WeightedStrategy();
    const list = [candidate('a', { weight: 1 }), candidate('b', { weight: 2 }), candidate('c', { weight: 3 })];
    const picks = Array.from({ length: 60 }, () => w.pick(list, {}).instance.id).join('');
    expect(picks.slice(0, 6)).toBe('cbacbc');
    expect(picks).not.toContain('ccc');
  });

  it("matches nginx's documented sequence for weights 5:1:1", () => {
    const w = new WeightedStrategy();
    const list = [candidate('a', { weight: 5 }), candidate('b', { weight: 1 }), candidate('c', { weight: 1 })];
    const picks = Array.from({ length: 7 }, () => w.pick(list, {}).instance.id).join('');
    expect(picks).toBe('aabacaa');
  });

  it('keeps state by instance id when the list changes order or loses a member', () => {
    const w = new WeightedStrategy();
    const a = candidate('a', { weight: 1 });
    const b = candidate('b', { weight: 3 });
    const c = candidate('c', { weight: 2 });
    for (let i = 0; i < 5; i++) w.pick([a, b, c], {});
    const counts: Record<string, number> = { a: 0, b: 0 };
    // Reordered and without c: a and b still share 1:3.
    for (let i = 0; i < 400; i++) {
      const id = w.pick([b, a], {}).instance.id;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(Math.abs((counts.a ?? 0) - 100)).toBeLessThanOrEqual(2);
    expect(Math.abs((counts.b ?? 0) - 300)).toBeLessThanOrEqual(2);
  });

  it('treats a missing or non-positive weight as 1', () => {
    const w = new WeightedStrategy();
    const list = [candidate('a', { weight: 0 }), candidate('b', { weight: Number.NaN })];
    const picks = Array.from({ length: 4 }, () => w.pick(list, {}).instance.id);
    expect(picks.filter((p) => p === 'a')).toHaveLength(2);
  });
});
