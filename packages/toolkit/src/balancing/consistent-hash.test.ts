import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { candidate } from './candidates.test-suite.js';
import { ConsistentHashStrategy, hash32 } from './consistent-hash.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `instance-${i}`);

describe('ConsistentHashStrategy', () => {
  it('sends one key to one instance every time', () => {
    const ch = new ConsistentHashStrategy();
    const list = ids(4).map((id) => candidate(id));
    const first = ch.pick(list, { key: 'user-42' }).instance.id;
    for (let i = 0; i < 20; i++) expect(ch.pick(list, { key: 'user-42' }).instance.id).toBe(first);
  });

  it('does not depend on the order of the list', () => {
    const list = ids(5).map((id) => candidate(id));
    const a = new ConsistentHashStrategy();
    const b = new ConsistentHashStrategy();
    const reversed = [...list].reverse();
    for (let k = 0; k < 200; k++) {
      expect(b.pick(reversed, { key: `k${k}` }).instance.id).toBe(a.pick(list, { key: `k${k}` }).instance.id);
    }
  });

  it('spreads keys over every instance, none starved', () => {
    const ch = new ConsistentHashStrategy();
    const list = ids(4).map((id) => candidate(id));
    const counts = new Map<string, number>();
    for (let k = 0; k < 4000; k++) {
      const id = ch.pick(list, { key: `order-${k}` }).instance.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.size).toBe(4);
    for (const n of counts.values()) expect(n).toBeGreaterThan(500);
  });

  it('when an instance leaves, only its keys move', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.nat(),
        fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 50 }),
        (n, removedSeed, keys) => {
          const list = ids(n).map((id) => candidate(id));
          const removed = list[removedSeed % n]?.instance.id;
          const remaining = list.filter((c) => c.instance.id !== removed);
          const ch = new ConsistentHashStrategy();
          for (const key of keys) {
            const before = ch.pick(list, { key }).instance.id;
            const after = ch.pick(remaining, { key }).instance.id;
            if (before !== removed) expect(after).toBe(before);
            else expect(after).not.toBe(removed);
          }
        },
      ),
    );
  });

  it('falls back to round robin without a key', () => {
    const ch = new ConsistentHashStrategy();
    const list = ids(3).map((id) => candidate(id));
    const picks = Array.from({ length: 3 }, () => ch.pick(list, {}).instance.id);
    expect(new Set(picks).size).toBe(3);
  });

  it('hash32 is a stable unsigned 32-bit hash', () => {
    expect(hash32('a')).toBe(hash32('a'));
    expect(hash32('a')).not.toBe(hash32('b'));
    expect(hash32('')).toBeGreaterThanOrEqual(0);
    expect(hash32('some longer key')).toBeLessThan(2 ** 32);
  });
});
