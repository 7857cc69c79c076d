import { describe, expect, it } from 'vitest';
import { IllegalStatusMove, TotalTooLarge } from './errors.js';
import { assertMove, canMove, isOrderStatus, MAX_TOTAL_CENTS, ORDER_STATUSES, type OrderStatus, orderTotalCents } from './order.js';

const LEGAL: ReadonlyArray<[OrderStatus, OrderStatus]> = [
  ['pending', 'confirmed'],
  ['pending', 'cancelled'],
  ['confirmed', 'shipped'],
  ['confirmed', 'cancelled'],
  ['shipped', 'delivered'],
];
const isLegal = (from: OrderStatus, to: OrderStatus) => LEGAL.some(([f, t]) => f === from && t === to);
const allMoves = ORDER_STATUSES.flatMap((from) => ORDER_STATUSES.map((to) => [from, to] as const));

describe('order status machine', () => {
  it.each(allMoves)('%s → %s is legal exactly when the design lists it', (from, to) => {
    expect(canMove(from, to)).toBe(isLegal(from, to));
    if (isLegal(from, to)) expect(() => assertMove(from, to)).not.toThrow();
    else expect(() => assertMove(from, to)).toThrow(IllegalStatusMove);
  });

  it('has exactly the five legal moves', () => {
    expect(allMoves.filter(([f, t]) => canMove(f, t))).toEqual(LEGAL);
  });

  it('knows its statuses', () => {
    expect(isOrderStatus('shipped')).toBe(true);
    expect(isOrderStatus('SHIPPED')).toBe(false);
    expect(isOrderStatus('refunded')).toBe(false);
    expect(isOrderStatus(1)).toBe(false);
  });
});

describe('order total', () => {
  const line = (unitPriceCents: number, quantity: number) => ({ productId: 'p', unitPriceCents, quantity });

  it('sums in integer cents: 3 × 0.10 + 0.20 is exactly 0.50', () => {
    expect(orderTotalCents([line(10, 3), line(20, 1)])).toBe(50);
  });

  it('is exact for the largest prices and quantities that fit', () => {
    expect(orderTotalCents([line(99_999_999_999, 10_000)])).toBe(999_999_999_990_000);
  });

  it('refuses a total above what the wire can carry exactly', () => {
    expect(() => orderTotalCents([line(100_000_000_000, 10_000), line(1, 1)])).toThrow(TotalTooLarge);
    expect(orderTotalCents([line(MAX_TOTAL_CENTS, 1)])).toBe(MAX_TOTAL_CENTS);
  });
});
