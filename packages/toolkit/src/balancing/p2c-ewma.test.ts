import { describe, expect, it } from 'vitest';
import { candidate } from './candidates.test-suite.js';
import { P2cEwmaStrategy } from './p2c-ewma.js';

describe('P2cEwmaStrategy', () => {
  it('of the two drawn, keeps the cheaper', () => {
    // Draws index 0 of 3, then index 1 of the 2 others (→ c).
    const values = [0, 0.5];
    const p2c = new P2cEwmaStrategy(() => values.shift() ?? 0);
    const list = [candidate('a', { cost: 50 }), candidate('b', { cost: 1 }), candidate('c', { cost: 10 })];
    expect(p2c.pick(list, {}).instance.id).toBe('c');
  });

  it('never draws the same candidate twice', () => {
    const p2c = new P2cEwmaStrategy(() => 0);
    const list = [candidate('a', { cost: 5 }), candidate('b', { cost: 1 })];
    expect(p2c.pick(list, {}).instance.id).toBe('b');
  });

  it('the most expensive instance is never picked when there are at least two', () => {
    const p2c = new P2cEwmaStrategy();
    const list = [candidate('a', { cost: 1 }), candidate('b', { cost: 2 }), candidate('slow', { cost: 100 })];
    const picks = new Set(Array.from({ length: 300 }, () => p2c.pick(list, {}).instance.id));
    expect(picks.has('slow')).toBe(false);
    expect(picks).toEqual(new Set(['a', 'b']));
  });

  it('passes over one that typically answers 4 × slower than the other, however cheap it looks', () => {
    // A fast instance busy with 8 requests costs more than an idle slow one...
    const busyFast = candidate('fast', { cost: 2 * 9, rtt: 2 });
    const idleSlow = candidate('slow', { cost: 20 * 1, rtt: 20 });
    const p2c = new P2cEwmaStrategy();
    for (let i = 0; i < 50; i++) expect(p2c.pick([busyFast, idleSlow], {}).instance.id).toBe('fast');
    // ...below the factor, or with no average known yet, cost decides as before.
    const notSoSlow = candidate('slow', { cost: 7, rtt: 7 });
    expect(p2c.pick([busyFast, notSoSlow], {}).instance.id).toBe('slow');
    const unknown = candidate('new', { cost: 1 });
    expect(p2c.pick([busyFast, unknown], {}).instance.id).toBe('new');
  });

  it('returns the only candidate', () => {
    const p2c = new P2cEwmaStrategy();
    const only = candidate('a');
    expect(p2c.pick([only], {})).toBe(only);
  });
});
