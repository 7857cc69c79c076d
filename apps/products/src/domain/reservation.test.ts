import { describe, expect, it } from 'vitest';
import { InvalidProductInput, ReservationConflict } from './errors.js';
import { checkQuantity, decideRelease, decideReserve, type Reservation } from './reservation.js';

const held: Reservation = {
  orderId: '0190a000-0000-7000-8000-0000000000aa',
  productId: '0190a000-0000-7000-8000-0000000000bb',
  quantity: 3,
  unitPriceCents: 99999,
  status: 'reserved',
};

describe('reservation rules', () => {
  it('creates a reservation the order does not hold yet', () => {
    expect(decideReserve(undefined, 3)).toEqual({ action: 'create' });
  });

  it('replays the same reservation instead of taking stock again', () => {
    expect(decideReserve(held, 3)).toEqual({ action: 'replay', reservation: held });
  });

  it('refuses a different quantity for a held reservation, and any after release', () => {
    expect(() => decideReserve(held, 4)).toThrow(ReservationConflict);
    expect(() => decideReserve({ ...held, status: 'released' }, 3)).toThrow(ReservationConflict);
    // a tombstone left by a release that came first
    expect(() => decideReserve({ ...held, quantity: 0, status: 'released' }, 3)).toThrow(ReservationConflict);
  });

  it.each([0, -1, 10_001, 1.5])('refuses the quantity %s', (q) => {
    expect(() => checkQuantity(q)).toThrow(InvalidProductInput);
    expect(() => decideReserve(undefined, q)).toThrow(InvalidProductInput);
  });

  it('releases once, then only reports', () => {
    expect(decideRelease(held)).toEqual({ action: 'release', reservation: held });
    const released = { ...held, status: 'released' as const };
    expect(decideRelease(released)).toEqual({ action: 'already_released', reservation: released });
  });

  it('knows when nothing was ever held', () => {
    expect(decideRelease(undefined)).toEqual({ action: 'never_held' });
    expect(decideRelease({ ...held, quantity: 0, status: 'released' })).toEqual({ action: 'never_held' });
  });
});
