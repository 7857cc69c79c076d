import { defineService, openSqliteStore, type ServiceHandle, type ServiceOptions, storeFile } from '@meshkit/toolkit';
import { productsService } from './service.js';
import { productsMigrations } from './store/migrations.js';
import type { ProductsDatabase } from './store/tables.js';

/** Wiring only: the products database (migrated), the definition, the service base. */
export async function createProductsApp(options: { dataDir: string; service: ServiceOptions }): Promise<ServiceHandle> {
  const store = await openSqliteStore<ProductsDatabase>({
    file: storeFile(options.dataDir, 'products'),
    migrations: productsMigrations,
  });
  try {
    return await defineService(productsService({ store, clock: options.service.clock }), options.service);
  } catch (e) {
    await store.close();
    throw e;
  }
}
