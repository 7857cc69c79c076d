import type { Store } from '@meshkit/toolkit';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { engines, useTestStores } from '../../../../test/support/service-harness.js';
import { productsMigrations } from './migrations.js';
import type { ProductsDatabase } from './tables.js';

const id = '0190a000-0000-7000-8000-000000000001';

describe.each(engines)('products schema on %s', (engine) => {
  const stores = useTestStores({ name: 'products-schema', engine });
  let store: Store<ProductsDatabase>;

  beforeEach(async () => {
    store = await stores.openStore<ProductsDatabase>('products', productsMigrations);
    await store.db
      .insertInto('products')
      .values({ id, name: 'Laptop', description: '', price_cents: 99999, stock: 1, created_at: 0, updated_at: 0 })
      .execute();
  });

  it('refuses a negative stock even from code that skips the conditional update', async () => {
    await expect(store.db.updateTable('products').set({ stock: -1 }).where('id', '=', id).execute()).rejects.toThrow(
      /CHECK constraint/i,
    );
    await expect(sql`update products set stock = stock - 2`.execute(store.db)).rejects.toThrow(/CHECK constraint/i);
    expect(await store.db.selectFrom('products').select('stock').execute()).toEqual([{ stock: 1 }]);
  });

  it('refuses a negative price, an unknown status and a reservation of an unknown product', async () => {
    await expect(store.db.updateTable('products').set({ price_cents: -1 }).execute()).rejects.toThrow(/CHECK/i);
    const row = { order_id: id, product_id: id, quantity: 1, unit_price_cents: 1, created_at: 0, updated_at: 0 };
    await expect(
      store.db
        .insertInto('product_reservations')
        .values({ ...row, status: 'lost' as 'reserved' })
        .execute(),
    ).rejects.toThrow(/CHECK/i);
    await expect(
      store.db
        .insertInto('product_reservations')
        .values({ ...row, product_id: '0190a000-0000-7000-8000-000000000002', status: 'reserved' })
        .execute(),
    ).rejects.toThrow(/FOREIGN KEY/i);
  });

  it('keeps prices, stock and times as numbers, exactly', async () => {
    await store.db
      .updateTable('products')
      .set({ price_cents: 100_000_000_000, stock: 1_000_000_000, created_at: 1_700_000_000.5, updated_at: 1_700_000_001.25 })
      .execute();
    expect(await store.db.selectFrom('products').select(['price_cents', 'stock', 'created_at', 'updated_at']).execute()).toEqual([
      { price_cents: 100_000_000_000, stock: 1_000_000_000, created_at: 1_700_000_000.5, updated_at: 1_700_000_001.25 },
    ]);
  });
});
