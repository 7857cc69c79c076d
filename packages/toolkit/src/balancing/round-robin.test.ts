import { describe, expect, it } from 'vitest';
import { candidate } from './candidates.test-suite.js';
import { RoundRobinStrategy } from './round-robin.js';

describe('RoundRobinStrategy', () => {
  it('gives each candidate its turn, in order', () => {
    const rr = new RoundRobinStrategy();
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    const picks = Array.from({ length: 7 }, () => rr.pick(list, {}).instance.id);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('keeps going when the list shrinks', () => {
    const rr = new RoundRobinStrategy();
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    rr.pick(list, {});
    rr.pick(list, {});
    const two = list.slice(0, 2);
    const picks = Array.from({ length: 4 }, () => rr.pick(two, {}).instance.id);
    expect(picks.filter((p) => p === 'a')).toHaveLength(2);
    expect(picks.filter((p) => p === 'b')).toHaveLength(2);
  });
});
