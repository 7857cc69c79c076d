import { type Kysely, type Migration, sql } from 'kysely';
import { ORDER_STATUSES } from '../domain/order.js';
import { MAX_QUANTITY } from '../domain/order-request.js';

/** Migrations by name, applied in name order at start. Never edit one that has shipped. */
export const ordersMigrations: Record<string, Migration> = {
  '0001_orders': {
    // biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was then
    async up(db: Kysely<any>) {
      const statuses = sql.join(ORDER_STATUSES.map((s) => sql.lit(s)));
      await db.schema
        .createTable('orders')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in (${statuses})`))
        .addColumn('total_cents', 'bigint', (c) => c.notNull().check(sql`total_cents >= 0`))
        .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
        .addColumn('updated_at_ms', 'bigint', (c) => c.notNull())
        .execute();
      // A user's orders, paged by id.
      await db.schema.createIndex('orders_user_id_id').on('orders').columns(['user_id', 'id']).execute();
      await db.schema
        .createTable('order_items')
        .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('product_id', 'text', (c) => c.notNull())
        .addColumn('quantity', 'integer', (c) =>
          c.notNull().check(sql`quantity between 1 and ${sql.lit(MAX_QUANTITY)}`),
        )
        .addColumn('unit_price_cents', 'bigint', (c) => c.notNull().check(sql`unit_price_cents >= 0`))
        .addPrimaryKeyConstraint('order_items_pk', ['order_id', 'position'])
        .addUniqueConstraint('order_items_order_product', ['order_id', 'product_id'])
        .execute();
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up
    async down(db: Kysely<any>) {
      await db.schema.dropTable('order_items').execute();
      await db.schema.dropTable('orders').execute();
    },
  },
};
