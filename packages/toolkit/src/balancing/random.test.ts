import { describe, expect, it } from 'vitest';
import { candidate } from './candidates.test-suite.js';
import { RandomStrategy } from './random.js';

describe('RandomStrategy', () => {
  it('maps the random source onto the list', () => {
    const values = [0, 0.34, 0.99, 1];
    const r = new RandomStrategy(() => values.shift() ?? 0);
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    const picks = Array.from({ length: 4 }, () => r.pick(list, {}).instance.id);
    expect(picks).toEqual(['a', 'b', 'c', 'c']);
  });

  it('reaches every candidate with Math.random', () => {
    const r = new RandomStrategy();
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    const seen = new Set(Array.from({ length: 300 }, () => r.pick(list, {}).instance.id));
    expect(seen).toEqual(new Set(['a', 'b', 'c']));
  });
});
