import type { Page } from '@meshkit/toolkit';
import { type Kysely, sql } from 'kysely';
import { isOrderStatus, type Order, type OrderStatus } from '../domain/order.js';
import type { OrderItemsTable, OrdersDatabase, OrdersTable } from './tables.js';

/**
 * Orders as the database keeps them. Lists return up to `page.limit + 1` rows in id order (ids are
 * UUIDv7, so that is creation order) for `pageOf` to cut and link.
 */
export class OrderRepository {
  constructor(private readonly db: Kysely<OrdersDatabase>) {}

  /** The order and all its lines, in one transaction: both or neither. */
  async insert(order: Order): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('orders')
        .values({
          id: order.id,
          user_id: order.userId,
          status: order.status,
          total_cents: order.totalCents,
          created_at_ms: order.createdAtMs,
          updated_at_ms: order.updatedAtMs,
        })
        .execute();
      await trx
        .insertInto('order_items')
        .values(
          order.items.map((line, position) => ({
            order_id: order.id,
            position,
            product_id: line.productId,
            quantity: line.quantity,
            unit_price_cents: line.unitPriceCents,
          })),
        )
        .execute();
    });
  }

  async findById(id: string): Promise<Order | undefined> {
    const row = await this.db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const [order] = await this.withItems([row]);
    return order;
  }

  async listByUser(userId: string, page: Page): Promise<Order[]> {
    let q = this.db.selectFrom('orders').selectAll().where('user_id', '=', userId);
    if (page.after !== undefined) q = q.where('id', '>', page.after);
    return this.withItems(await q.orderBy('id').limit(page.limit + 1).execute());
  }

  async list(page: Page): Promise<Order[]> {
    let q = this.db.selectFrom('orders').selectAll();
    if (page.after !== undefined) q = q.where('id', '>', page.after);
    return this.withItems(await q.orderBy('id').limit(page.limit + 1).execute());
  }

  /**
   * Moves the order only if it still has status `from` (a compare-and-set): false when it does not
   * exist or someone moved it first.
   */
  async moveStatus(id: string, from: OrderStatus, to: OrderStatus, atMs: number): Promise<boolean> {
    const result = await this.db
      .updateTable('orders')
      .set({ status: to, updated_at_ms: atMs })
      .where('id', '=', id)
      .where('status', '=', from)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  private async withItems(rows: OrdersTable[]): Promise<Order[]> {
    if (rows.length === 0) return [];
    const items = await this.db
      .selectFrom('order_items')
      .selectAll()
      .where(
        'order_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('order_id')
      .orderBy('position')
      .execute();
    const byOrder = new Map<string, OrderItemsTable[]>();
    for (const item of items) {
      const list = byOrder.get(item.order_id);
      if (list) list.push(item);
      else byOrder.set(item.order_id, [item]);
    }
    return rows.map((row) => toOrder(row, byOrder.get(row.id) ?? []));
  }
}

// Number(): a pool without the store’s int8 parser hands bigint columns back as strings.
function toOrder(row: OrdersTable, items: OrderItemsTable[]): Order {
  if (!isOrderStatus(row.status)) throw new Error(`order ${row.id} has an unknown status ${row.status}`);
  return {
    id: row.id,
    userId: row.user_id,
    items: items.map((i) => ({
      productId: i.product_id,
      quantity: Number(i.quantity),
      unitPriceCents: Number(i.unit_price_cents),
    })),
    totalCents: Number(row.total_cents),
    status: row.status,
    createdAtMs: Number(row.created_at_ms),
    updatedAtMs: Number(row.updated_at_ms),
  };
}
