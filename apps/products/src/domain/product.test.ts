import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidProductInput } from './errors.js';
import { checkStock, createProduct, priceCents, priceOf } from './product.js';

const id = '0190a000-0000-7000-8000-000000000001';

describe('product rules', () => {
  it('creates the seed laptop with defaults for description and stock', () => {
    expect(createProduct({ name: 'Laptop', price: 999.99 }, id, 5)).toEqual({
      id,
      name: 'Laptop',
      description: '',
      priceCents: 99999,
      stock: 0,
      createdAt: 5,
      updatedAt: 5,
    });
  });

  it('keeps prices exact in cents: 999.99 and 0.1 + 0.2 come back as sent', () => {
    expect(priceOf({ priceCents: priceCents(999.99) })).toBe(999.99);
    expect(priceCents(0.1) + priceCents(0.2)).toBe(30);
    expect(priceOf({ priceCents: priceCents(0.1) + priceCents(0.2) })).toBe(0.3);
    expect(priceCents(1_000_000_000)).toBe(100_000_000_000);
    expect(priceCents(0)).toBe(0);
  });

  it('round-trips every 2-decimal price in range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000_000_000 }), (cents) => {
        const wire = cents / 100;
        return priceCents(wire) === cents && priceOf({ priceCents: priceCents(wire) }) === wire;
      }),
    );
  });

  it.each([-0.01, 1_000_000_000.01, 1.001, 0.005, Number.NaN, Number.POSITIVE_INFINITY])('refuses the price %s', (p) => {
    expect(() => priceCents(p)).toThrow(InvalidProductInput);
  });

  it.each([-1, 1.5, 1_000_000_001, Number.NaN])('refuses the stock %s', (s) => {
    expect(() => checkStock(s)).toThrow(InvalidProductInput);
  });

  it('refuses blank or overlong names and overlong descriptions', () => {
    expect(() => createProduct({ name: ' ', price: 1 }, id, 0)).toThrow(InvalidProductInput);
    expect(() => createProduct({ name: 'x'.repeat(201), price: 1 }, id, 0)).toThrow(InvalidProductInput);
    expect(() => createProduct({ name: 'x', price: 1, description: 'd'.repeat(2001) }, id, 0)).toThrow(
      InvalidProductInput,
    );
    expect(createProduct({ name: 'x', price: 1, description: 'd'.repeat(2000) }, id, 0).description).toHaveLength(2000);
  });
});
