import type { Page } from '@meshkit/toolkit';
import type { Kysely, Selectable } from 'kysely';
import type { Product } from '../domain/product.js';
import type { ProductsDatabase, ProductsTable } from './tables.js';

export function toProduct(row: Selectable<ProductsTable>): Product {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    priceCents: Number(row.price_cents),
    stock: Number(row.stock),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Products in the products database. Stock held by orders is in ReservationRepository. */
export class ProductRepository {
  constructor(private readonly db: Kysely<ProductsDatabase>) {}

  async insert(product: Product): Promise<void> {
    await this.db
      .insertInto('products')
      .values({
        id: product.id,
        name: product.name,
        description: product.description,
        price_cents: product.priceCents,
        stock: product.stock,
        created_at: product.createdAt,
        updated_at: product.updatedAt,
      })
      .execute();
  }

  async findById(id: string): Promise<Product | undefined> {
    const row = await this.db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toProduct(row);
  }

  /** Keyset page in id order; fetches `limit + 1` rows so the caller can tell whether more remain. */
  async listPage(page: Page): Promise<Product[]> {
    let query = this.db.selectFrom('products').selectAll();
    if (page.after !== undefined) query = query.where('id', '>', page.after);
    const rows = await query.orderBy('id').limit(page.limit + 1).execute();
    return rows.map(toProduct);
  }

  /** Sets the stock on hand (an inventory count); undefined when there is no such product. */
  async setStock(id: string, stock: number, nowSeconds: number): Promise<Product | undefined> {
    const row = await this.db
      .updateTable('products')
      .set({ stock, updated_at: nowSeconds })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toProduct(row);
  }
}
