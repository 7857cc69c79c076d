import { MeshError, type ServiceCaller, toCents } from '@meshkit/toolkit';
import { callOptionsOf, type RequestContext } from '../request-context.js';
import { unexpectedAnswer } from './unexpected-answer.js';

export const PRODUCTS_SERVICE = 'product-service';

export type ReserveOutcome =
  | { kind: 'reserved'; unitPriceCents: number }
  | { kind: 'unknown_product' }
  | { kind: 'insufficient_stock' };

export type ReleaseOutcome = 'released' | 'absent';

/**
 * Stock held for an order, keyed by (product, order) on the product service. Both calls are
 * idempotent there, so repeating one after an unknown outcome (a timeout) is safe.
 */
export interface StockReservations {
  /** A definite answer resolves; a network failure or an off-contract answer rejects (MeshError). */
  reserve(productId: string, orderId: string, quantity: number, ctx?: RequestContext): Promise<ReserveOutcome>;
  release(productId: string, orderId: string, ctx?: RequestContext): Promise<ReleaseOutcome>;
  /** Throws the 503 a reservation would fail with now (no product instance can take one); sends nothing. */
  ensureAvailable(): void;
}

const reservationPath = (productId: string, orderId: string) =>
  `/internal/products/${encodeURIComponent(productId)}/reservations/${encodeURIComponent(orderId)}`;

export function stockReservations(caller: ServiceCaller): StockReservations {
  return {
    async reserve(productId, orderId, quantity, ctx = {}) {
      const path = reservationPath(productId, orderId);
      const res = await caller.call<{ unit_price?: unknown }>(PRODUCTS_SERVICE, {
        method: 'PUT',
        path,
        body: { quantity },
        ...callOptionsOf(ctx),
      });
      if (res.status === 404) return { kind: 'unknown_product' };
      if (res.status === 409) return { kind: 'insufficient_stock' };
      if (res.status !== 200 && res.status !== 201) throw unexpectedAnswer(PRODUCTS_SERVICE, `PUT ${path}`, res);
      const price = res.body?.unit_price;
      const cents = typeof price === 'number' && price >= 0 ? toCents(price) : undefined;
      if (cents === undefined) {
        // Reserved, but we cannot price it: the caller releases it like any failed reservation.
        throw new MeshError('UPSTREAM_FAILED', `${PRODUCTS_SERVICE} sent no valid unit_price for ${productId}`);
      }
      return { kind: 'reserved', unitPriceCents: cents };
    },

    async release(productId, orderId, ctx = {}) {
      const path = reservationPath(productId, orderId);
      const res = await caller.call(PRODUCTS_SERVICE, { method: 'DELETE', path, ...callOptionsOf(ctx) });
      if (res.status === 200 || res.status === 204) return 'released';
      if (res.status === 404) return 'absent';
      throw unexpectedAnswer(PRODUCTS_SERVICE, `DELETE ${path}`, res);
    },

    ensureAvailable() {
      caller.ensureAvailable?.(PRODUCTS_SERVICE);
    },
  };
}
