import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { candidate } from './candidates.test-suite.js';
import { createStrategy } from './create-strategy.js';
import { strategyNames } from './strategy.js';

/**
 * The contract every balancing strategy keeps, run against each of them (the strategy-specific
 * distributions are tested beside each strategy).
 */
describe.each(strategyNames)('%s strategy', (name) => {
  // A fixed sequence instead of Math.random, so the random strategies are repeatable.
  const seeded = (seed: number) => {
    let s = seed >>> 0 || 1;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  };

  it('always picks one of the candidates it was given, and never changes the list', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.option(fc.string(), { nil: undefined }), { minLength: 1, maxLength: 30 }),
        fc.integer(),
        (ids, keys, seed) => {
          const strategy = createStrategy(name, { random: seeded(seed) });
          const list = ids.map((id, i) => candidate(id, { weight: (i % 3) + 1, inFlight: i % 2, cost: i }));
          const before = [...list];
          for (const key of keys) {
            const picked = strategy.pick(list, key === undefined ? {} : { key });
            expect(list).toContain(picked);
          }
          expect(list).toEqual(before);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('picks the only candidate when there is one', () => {
    const only = candidate('only', { inFlight: 9, cost: 99 });
    const strategy = createStrategy(name, { random: seeded(7) });
    for (let i = 0; i < 20; i++) expect(strategy.pick([only], { key: `k${i}` })).toBe(only);
  });

  it('reaches every idle, equal candidate', () => {
    const strategy = createStrategy(name, { random: seeded(42) });
    const list = ['a', 'b', 'c', 'd'].map((id) => candidate(id));
    const seen = new Set<string>();
    // Keys vary so consistent hashing spreads too; the others ignore them.
    for (let i = 0; i < 400; i++) seen.add(strategy.pick(list, { key: `user-${i}` }).instance.id);
    expect([...seen].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('never picks an instance that left the list', () => {
    const strategy = createStrategy(name, { random: seeded(3) });
    const all = ['a', 'b', 'c'].map((id) => candidate(id));
    for (let i = 0; i < 30; i++) strategy.pick(all, { key: `k${i}` });
    const rest = all.filter((c) => c.instance.id !== 'b');
    for (let i = 0; i < 60; i++) expect(strategy.pick(rest, { key: `k${i}` }).instance.id).not.toBe('b');
  });
});
