import { InvalidProductInput, ReservationConflict } from './errors.js';

/**
 * Stock held for one order line: (order, product) is the key, so a retried reservation finds the
 * first one instead of taking the stock twice. `released` is final; a release that arrives before
 * any reservation leaves a `released` row of quantity 0 (a tombstone) so a late reservation for
 * that order is refused rather than holding stock no one will release.
 */
export type ReservationStatus = 'reserved' | 'released';

export interface Reservation {
  orderId: string;
  productId: string;
  quantity: number;
  /** The product's price when the stock was reserved. */
  unitPriceCents: number;
  status: ReservationStatus;
}

export const QUANTITY_MAX = 10_000;

export function checkQuantity(quantity: number): number {
  if (!Number.isSafeInteger(quantity) || quantity < 1 || quantity > QUANTITY_MAX) {
    throw new InvalidProductInput(`quantity must be an integer from 1 to ${QUANTITY_MAX}`);
  }
  return quantity;
}

/** Whether a reservation was never really held (a tombstone left by an early release). */
export function wasNeverHeld(reservation: Reservation): boolean {
  return reservation.quantity === 0;
}

export type ReserveDecision = { action: 'create' } | { action: 'replay'; reservation: Reservation };

/** What to do with a reservation request given what the order already holds of this product. */
export function decideReserve(existing: Reservation | undefined, quantity: number): ReserveDecision {
  checkQuantity(quantity);
  if (existing === undefined) return { action: 'create' };
  if (existing.status === 'released') {
    throw new ReservationConflict(
      `order ${existing.orderId} already released its reservation of product ${existing.productId}`,
    );
  }
  if (existing.quantity !== quantity) {
    throw new ReservationConflict(
      `order ${existing.orderId} already reserved ${existing.quantity} of product ${existing.productId}, not ${quantity}`,
    );
  }
  return { action: 'replay', reservation: existing };
}

export type ReleaseDecision =
  /** Give the stock back and mark the reservation released. */
  | { action: 'release'; reservation: Reservation }
  /** Released before: report it, touch no stock. */
  | { action: 'already_released'; reservation: Reservation }
  /** Nothing was ever held for this order and product (no row, or only a tombstone). */
  | { action: 'never_held' };

/** Releasing is idempotent: stock comes back once, later releases only report. */
export function decideRelease(existing: Reservation | undefined): ReleaseDecision {
  if (existing === undefined || wasNeverHeld(existing)) return { action: 'never_held' };
  if (existing.status === 'released') return { action: 'already_released', reservation: existing };
  return { action: 'release', reservation: existing };
}
