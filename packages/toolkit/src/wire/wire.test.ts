import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromCents, toCents } from './money.js';
import { isUuid, uuidv7 } from './ids.js';
import { pageOf, parsePage } from './paging.js';

describe('money in integer cents', () => {
  it('keeps two-decimal amounts exact', () => {
    expect(toCents(999.99)).toBe(99999);
    expect(toCents(0.1)).toBe(10);
    expect(fromCents((toCents(0.1) ?? 0) * 3 + (toCents(0.2) ?? 0))).toBe(0.5);
  });
  it('refuses a third decimal and non-finite numbers', () => {
    expect(toCents(1.005)).toBeUndefined();
    expect(toCents(0.001)).toBeUndefined();
    expect(toCents(Number.NaN)).toBeUndefined();
    expect(toCents(Number.POSITIVE_INFINITY)).toBeUndefined();
  });
  it('round-trips every cent amount up to 10^9 units', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100_000_000_000 }), (c) => toCents(fromCents(c)) === c));
  });
});

describe('UUIDv7 ids', () => {
  it('are valid UUIDs that sort in creation order', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    for (const id of ids) expect(isUuid(id)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
  it('rejects what is not a UUID', () => {
    expect(isUuid('abc')).toBe(false);
    expect(isUuid('00000000-0000-0000-0000-00000000000g')).toBe(false);
    expect(isUuid(uuidv7().toUpperCase())).toBe(false);
  });
});

describe('keyset paging', () => {
  it('defaults to 100 and refuses bad limits and cursors', () => {
    expect(parsePage({})).toEqual({ limit: 100 });
    expect(() => parsePage({ limit: '0' })).toThrow(/limit/);
    expect(() => parsePage({ limit: '1001' })).toThrow(/limit/);
    expect(() => parsePage({ after: 'x' })).toThrow(/after/);
  });
  it('links to the next page only when more rows remain', () => {
    const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    expect(pageOf(rows, { limit: 3 }, '/users')).toEqual({ items: rows });
    expect(pageOf(rows, { limit: 2 }, '/users')).toEqual({
      items: rows.slice(0, 2),
      link: '</users?limit=2&after=b>; rel="next"',
    });
  });
});
