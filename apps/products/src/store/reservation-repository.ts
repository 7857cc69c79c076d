import { isUniqueViolation } from '@meshkit/toolkit';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
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
 * Stock held for orders. The reservation row and the product's stock always change together, so
 * the two never disagree; the stock is taken by one conditional UPDATE, so concurrent reservations
 * cannot oversell (and CHECK (stock >= 0) backs that up).
 *
 * Every order of a product takes that product's row lock. On PostgreSQL the lock is therefore
 * taken only inside one statement (a writable CTE that changes both rows, autocommitted): no
 * transaction ever holds it across a round trip to this process, so an instance that is paused,
 * starved of CPU or killed in the middle cannot stall every other instance's orders of the
 * product. SQLite (one process, one connection) keeps the plain transaction.
 */
export class ReservationRepository {
  constructor(
    private readonly db: Kysely<ProductsDatabase>,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

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
    if (this.dialect === 'postgres') return this.retryOnceOnClash(() => this.reserveInOneStatement(request, nowSeconds));
    return this.retryOnceOnClash(() => this.db.transaction().execute((trx) => this.reserveIn(trx, request, nowSeconds)));
  }

  /** The outcome; `never_held` left a tombstone so a late reservation for this order is refused. */
  async release(orderId: string, productId: string, nowSeconds: number): Promise<ReleaseDecision> {
    if (this.dialect === 'postgres') {
      return this.retryOnceOnClash(() => this.releaseInOneStatement(orderId, productId, nowSeconds));
    }
    return this.retryOnceOnClash(() =>
      this.db.transaction().execute((trx) => this.releaseIn(trx, orderId, productId, nowSeconds)),
    );
  }

  /**
   * PostgreSQL: the checks read first (no lock), then one statement takes the stock and inserts the
   * reservation. A concurrent reservation of the same order and product makes the INSERT fail as a
   * whole (stock untouched), and the retry replays the winner's row.
   */
  private async reserveInOneStatement(
    { orderId, productId, quantity }: ReservationRequest,
    nowSeconds: number,
  ): Promise<ReserveResult> {
    const product = await this.priceOf(productId, this.db);
    if (!product) throw new ProductNotFound(productId);
    const decision = decideReserve(await this.find(orderId, productId), quantity);
    if (decision.action === 'replay') return { reservation: decision.reservation, created: false };

    const { rows } = await sql<{ unit_price_cents: number }>`
      WITH taken AS (
        UPDATE products SET stock = stock - ${quantity}::integer, updated_at = ${nowSeconds}::double precision
        WHERE id = ${productId} AND stock >= ${quantity}::integer
        RETURNING price_cents
      )
      INSERT INTO product_reservations (order_id, product_id, quantity, unit_price_cents, status, created_at, updated_at)
      SELECT ${orderId}::text, ${productId}::text, ${quantity}::integer, price_cents, 'reserved',
        ${nowSeconds}::double precision, ${nowSeconds}::double precision
      FROM taken
      RETURNING unit_price_cents`.execute(this.db);
    const taken = rows[0];
    if (!taken) throw new InsufficientStock(productId, quantity);
    return {
      reservation: { orderId, productId, quantity, unitPriceCents: Number(taken.unit_price_cents), status: 'reserved' },
      created: true,
    };
  }

  /**
   * PostgreSQL: the decision is read first; giving the stock back and marking the reservation
   * released is one statement, conditional on 'reserved', so of two concurrent releases only one
   * gives the stock back.
   */
  private async releaseInOneStatement(orderId: string, productId: string, nowSeconds: number): Promise<ReleaseDecision> {
    const product = await this.priceOf(productId, this.db);
    if (!product) throw new ProductNotFound(productId);
    const existing = await this.find(orderId, productId);
    const decision = decideRelease(existing);
    if (decision.action === 'never_held' && existing === undefined) {
      await this.insertTombstone(this.db, orderId, productId, Number(product.price_cents), nowSeconds);
    }
    if (decision.action !== 'release') return decision;

    const { rows } = await sql<{ id: string }>`
      WITH marked AS (
        UPDATE product_reservations SET status = 'released', updated_at = ${nowSeconds}::double precision
        WHERE order_id = ${orderId} AND product_id = ${productId} AND status = 'reserved'
        RETURNING quantity
      )
      UPDATE products SET stock = products.stock + marked.quantity, updated_at = ${nowSeconds}::double precision
      FROM marked
      WHERE products.id = ${productId}
      RETURNING products.id`.execute(this.db);
    const reservation: Reservation = { ...decision.reservation, status: 'released' };
    return rows.length === 0 ? { action: 'already_released', reservation } : { action: 'release', reservation };
  }

  private priceOf(productId: string, db: Db): Promise<{ price_cents: number } | undefined> {
    return db.selectFrom('products').select('price_cents').where('id', '=', productId).executeTakeFirst();
  }

  /** A release before any reservation: a `released` row of quantity 0, so a late reservation is refused. */
  private async insertTombstone(db: Db, orderId: string, productId: string, unitPriceCents: number, nowSeconds: number) {
    await db
      .insertInto('product_reservations')
      .values({
        order_id: orderId,
        product_id: productId,
        quantity: 0,
        unit_price_cents: unitPriceCents,
        status: 'released',
        created_at: nowSeconds,
        updated_at: nowSeconds,
      })
      .execute();
  }

  private async reserveIn(
    trx: Transaction<ProductsDatabase>,
    { orderId, productId, quantity }: ReservationRequest,
    nowSeconds: number,
  ): Promise<ReserveResult> {
    const product = await this.priceOf(productId, trx);
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
    const product = await this.priceOf(productId, trx);
    if (!product) throw new ProductNotFound(productId);
    const existing = await this.find(orderId, productId, trx);
    const decision = decideRelease(existing);
    if (decision.action === 'never_held' && existing === undefined) {
      await this.insertTombstone(trx, orderId, productId, Number(product.price_cents), nowSeconds);
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
