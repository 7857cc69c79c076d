import { describe, expect, it } from 'vitest';
import { candidate } from './candidates.test-suite.js';
import { LeastConnectionsStrategy } from './least-connections.js';

describe('LeastConnectionsStrategy', () => {
  it('picks the instance with the fewest in-flight requests', () => {
    const lc = new LeastConnectionsStrategy();
    const list = [candidate('a', { inFlight: 3 }), candidate('b', { inFlight: 1 }), candidate('c', { inFlight: 2 })];
    for (let i = 0; i < 5; i++) expect(lc.pick(list, {}).instance.id).toBe('b');
  });

  it('shares ties instead of always taking the first', () => {
    const lc = new LeastConnectionsStrategy();
    const list = [candidate('a'), candidate('b'), candidate('c'), candidate('busy', { inFlight: 9 })];
    const picks = new Set(Array.from({ length: 8 }, () => lc.pick(list, {}).instance.id));
    expect(picks).toEqual(new Set(['a', 'b', 'c']));
  });
});
