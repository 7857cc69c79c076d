import { isUniqueViolation } from '@meshkit/toolkit';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { InsufficientStock, ProductNotFound } from '../domain/errors.js';
import { decideRelease, decideReserve, type ReleaseDecision, type Reservation } from '../domain/reservation.js';
import type { ProductsDatabase, ReservationsTable } from './tables.js';

function toReservation(row: Selectable<ReservationsTable>): Reservation {
  return {
    orderId: row.order_id,
    productId: row.product_id,
    quantity: Number(row.quantity),
    unitPriceCents: Number(row.unit_price_cents),
    status: row.status,
  };
}

type Db = Kysely<ProductsDatabase> | Transaction<ProductsDatabase>;

export interface ReservationRequest {
  orderId: string;
  productId: string;
  quantity: number;
}

export interface ReserveResult {
  reservation: Reservation;
  /** False when this was a retry of a reservation already held: no stock was taken this time. */
  created: boolean;
}

/**
 * Stock held for orders. Each reserve and release is one transaction over the reservation row and
 * the product's stock, so the two never disagree; the stock is taken by one conditional UPDATE, so
 * concurrent reservations cannot oversell (and CHECK (stock >= 0) backs that up).
 */
export class ReservationRepository {
  constructor(private readonly db: Kysely<ProductsDatabase>) {}

  async find(orderId: string, productId: string, db: Db = this.db): Promise<Reservation | undefined> {
    const row = await db
      .selectFrom('product_reservations')
      .selectAll()
      .where('order_id', '=', orderId)
      .where('product_id', '=', productId)
      .executeTakeFirst();
    return row && toReservation(row);
  }

  async reserve(request: ReservationRequest, nowSeconds: number): Promise<ReserveResult> {
    return this.retryOnceOnClash(() => this.db.transaction().execute((trx) => this.reserveIn(trx, request, nowSeconds)));
  }

  /** The outcome; `never_held` left a tombstone so a late reservation for this order is refused. */
  async release(orderId: string, productId: string, nowSeconds: number): Promise<ReleaseDecision> {
    return this.retryOnceOnClash(() =>
      this.db.transaction().execute((trx) => this.releaseIn(trx, orderId, productId, nowSeconds)),
    );
  }

  private async reserveIn(
    trx: Transaction<ProductsDatabase>,
    { orderId, productId, quantity }: ReservationRequest,
    nowSeconds: number,
  ): Promise<ReserveResult> {
    const product = await trx
      .selectFrom('products')
      .select('price_cents')
      .where('id', '=', productId)
      .executeTakeFirst();
    if (!product) throw new ProductNotFound(productId);
    const decision = decideReserve(await this.find(orderId, productId, trx), quantity);
    if (decision.action === 'replay') return { reservation: decision.reservation, created: false };

    const taken = await trx
      .updateTable('products')
      .set((eb) => ({ stock: eb('stock', '-', quantity), updated_at: nowSeconds }))
      .where('id', '=', productId)
      .where('stock', '>=', quantity)
      .executeTakeFirst();
    if (taken.numUpdatedRows === 0n) throw new InsufficientStock(productId, quantity);

    const reservation: Reservation = {
      orderId,
      productId,
      quantity,
      unitPriceCents: Number(product.price_cents),
      status: 'reserved',
    };
    await trx
      .insertInto('product_reservations')
      .values({
        order_id: orderId,
        product_id: productId,
        quantity,
        unit_price_cents: reservation.unitPriceCents,
        status: 'reserved',
        created_at: nowSeconds,
        updated_at: nowSeconds,
      })
      .execute();
    return { reservation, created: true };
  }

  private async releaseIn(
    trx: Transaction<ProductsDatabase>,
    orderId: string,
    productId: string,
    nowSeconds: number,
  ): Promise<ReleaseDecision> {
    const product = await trx
      .selectFrom('products')
      .select('price_cents')
      .where('id', '=', productId)
      .executeTakeFirst();
    if (!product) throw new ProductNotFound(productId);
    const existing = await this.find(orderId, productId, trx);
    const decision = decideRelease(existing);
    if (decision.action === 'never_held' && existing === undefined) {
      await trx
        .insertInto('product_reservations')
        .values({
          order_id: orderId,
          product_id: productId,
          quantity: 0,
          unit_price_cents: Number(product.price_cents),
          status: 'released',
          created_at: nowSeconds,
          updated_at: nowSeconds,
        })
        .execute();
    }
    if (decision.action !== 'release') return decision;

    // Conditional on 'reserved' so that, of two concurrent releases, only one gives the stock back.
    const marked = await trx
      .updateTable('product_reservations')
      .set({ status: 'released', updated_at: nowSeconds })
      .where('order_id', '=', orderId)
      .where('product_id', '=', productId)
      .where('status', '=', 'reserved')
      .executeTakeFirst();
    const reservation: Reservation = { ...decision.reservation, status: 'released' };
    if (marked.numUpdatedRows === 0n) return { action: 'already_released', reservation };
    await trx
      .updateTable('products')
      .set((eb) => ({ stock: eb('stock', '+', decision.reservation.quantity), updated_at: nowSeconds }))
      .where('id', '=', productId)
      .execute();
    return { action: 'release', reservation };
  }

  /**
   * Two writers racing on the same (order, product) row (possible on PostgreSQL): the loser's
   * transaction is rolled back whole, and running it again sees the winner's row and decides from it.
   */
  private async retryOnceOnClash<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      return work();
    }
  }
}
