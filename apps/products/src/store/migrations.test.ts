import { openSqliteStore } from '@meshkit/toolkit';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { productsMigrations } from './migrations.js';
import type { ProductsDatabase } from './tables.js';

const id = '0190a000-0000-7000-8000-000000000001';
let store: Awaited<ReturnType<typeof openSqliteStore<ProductsDatabase>>>;

beforeEach(async () => {
  store = await openSqliteStore<ProductsDatabase>({ file: ':memory:', migrations: productsMigrations });
  await store.db
    .insertInto('products')
    .values({ id, name: 'Laptop', description: '', price_cents: 99999, stock: 1, created_at: 0, updated_at: 0 })
    .execute();
});

afterEach(() => store.close());

describe('products schema', () => {
  it('refuses a negative stock even from code that skips the conditional update', async () => {
    await expect(store.db.updateTable('products').set({ stock: -1 }).where('id', '=', id).execute()).rejects.toThrow(
      /CHECK constraint/,
    );
    await expect(sql`update products set stock = stock - 2`.execute(store.db)).rejects.toThrow(/CHECK constraint/);
  });

  it('refuses a negative price, an unknown status and a reservation of an unknown product', async () => {
    await expect(store.db.updateTable('products').set({ price_cents: -1 }).execute()).rejects.toThrow(/CHECK/);
    const row = { order_id: id, product_id: id, quantity: 1, unit_price_cents: 1, created_at: 0, updated_at: 0 };
    await expect(
      store.db
        .insertInto('product_reservations')
        .values({ ...row, status: 'lost' as 'reserved' })
        .execute(),
    ).rejects.toThrow(/CHECK/);
    await expect(
      store.db
        .insertInto('product_reservations')
        .values({ ...row, product_id: '0190a000-0000-7000-8000-000000000002', status: 'reserved' })
        .execute(),
    ).rejects.toThrow(/FOREIGN KEY/);
  });
});
