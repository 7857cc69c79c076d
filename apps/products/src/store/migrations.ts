import { type Kysely, type Migration, sql } from 'kysely';

/** Run in name order by the store at start; never edit one that has shipped, add the next. */
export const productsMigrations: Record<string, Migration> = {
  '0001_create_products': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('products')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('price_cents', 'bigint', (c) => c.notNull().check(sql`price_cents >= 0`))
        .addColumn('stock', 'integer', (c) => c.notNull().check(sql`stock >= 0`))
        .addColumn('created_at', 'double precision', (c) => c.notNull())
        .addColumn('updated_at', 'double precision', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('products').execute();
    },
  },
  '0002_create_product_reservations': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('product_reservations')
        .addColumn('order_id', 'text', (c) => c.notNull())
        .addColumn('product_id', 'text', (c) => c.notNull().references('products.id'))
        .addColumn('quantity', 'integer', (c) => c.notNull().check(sql`quantity >= 0`))
        .addColumn('unit_price_cents', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('reserved', 'released')`))
        .addColumn('created_at', 'double precision', (c) => c.notNull())
        .addColumn('updated_at', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('product_reservations_pk', ['order_id', 'product_id'])
        .execute();
      await db.schema
        .createIndex('product_reservations_product_id')
        .on('product_reservations')
        .column('product_id')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('product_reservations').execute();
    },
  },
};
