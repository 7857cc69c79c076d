import { uuidv7 } from '@meshkit/toolkit';
import { describe, expect, it } from 'vitest';
import { InvalidOrder } from './errors.js';
import { type OrderRequest, validateOrderRequest } from './order-request.js';

const user = uuidv7();
const p1 = uuidv7();
const p2 = uuidv7();

describe('validateOrderRequest', () => {
  it('merges duplicate products by summing, keeping first-seen order', () => {
    const v = validateOrderRequest({
      user_id: user,
      items: [
        { product_id: p1, quantity: 2 },
        { product_id: p2, quantity: 1 },
        { product_id: p1, quantity: 3 },
      ],
    });
    expect(v).toEqual({
      userId: user,
      lines: [
        { productId: p1, quantity: 5 },
        { productId: p2, quantity: 1 },
      ],
    });
  });

  it('takes a client total in cents', () => {
    expect(validateOrderRequest({ user_id: user, items: [{ product_id: p1, quantity: 1 }], total: 999.99 }).clientTotalCents).toBe(99_999);
    expect(validateOrderRequest({ user_id: user, items: [{ product_id: p1, quantity: 1 }], total: 0.3 }).clientTotalCents).toBe(30);
  });

  const item = { product_id: p1, quantity: 1 };
  const bad: Array<[string, unknown]> = [
    ['user_id not a UUID', { user_id: 'u1', items: [item] }],
    ['user_id upper case', { user_id: user.toUpperCase(), items: [item] }],
    ['no items', { user_id: user, items: [] }],
    ['101 items', { user_id: user, items: Array.from({ length: 101 }, () => ({ product_id: uuidv7(), quantity: 1 })) }],
    ['product_id not a UUID', { user_id: user, items: [{ product_id: 'x', quantity: 1 }] }],
    ['quantity 0', { user_id: user, items: [{ product_id: p1, quantity: 0 }] }],
    ['quantity 10001', { user_id: user, items: [{ product_id: p1, quantity: 10_001 }] }],
    ['quantity 1.5', { user_id: user, items: [{ product_id: p1, quantity: 1.5 }] }],
    ['quantity a string', { user_id: user, items: [{ product_id: p1, quantity: '1' }] }],
    ['merged quantity over 10000', { user_id: user, items: [{ product_id: p1, quantity: 6000 }, { product_id: p1, quantity: 4001 }] }],
    ['total with 3 decimals', { user_id: user, items: [item], total: 1.005 }],
    ['negative total', { user_id: user, items: [item], total: -1 }],
    ['total not finite', { user_id: user, items: [item], total: Number.NaN }],
    ['total infinite', { user_id: user, items: [item], total: Number.POSITIVE_INFINITY }],
    ['total above any possible order', { user_id: user, items: [item], total: 1e13 + 0.01 }],
    ['total a string', { user_id: user, items: [item], total: '1.00' }],
  ];
  it.each(bad)('refuses %s', (_, req) => {
    expect(() => validateOrderRequest(req as OrderRequest)).toThrow(InvalidOrder);
  });

  it('accepts the bounds', () => {
    const hundred = Array.from({ length: 100 }, () => ({ product_id: uuidv7(), quantity: 10_000 }));
    expect(validateOrderRequest({ user_id: user, items: hundred }).lines).toHaveLength(100);
    const merged = validateOrderRequest({ user_id: user, items: [{ product_id: p1, quantity: 6000 }, { product_id: p1, quantity: 4000 }] });
    expect(merged.lines).toEqual([{ productId: p1, quantity: 10_000 }]);
  });
});
