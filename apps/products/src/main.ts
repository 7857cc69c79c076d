import { defineService, openStore, type ServiceHandle, type ServiceOptions } from '@meshkit/toolkit';
import { productsService } from './service.js';
import { productsMigrations } from './store/migrations.js';
import type { ProductsDatabase } from './store/tables.js';

export interface ProductsAppOptions {
  /** Folder of the SQLite file (`products.sqlite` in it); unused with `databaseUrl`. */
  dataDir: string;
  /** PostgreSQL: the products tables live in schema `<schemaPrefix>products` there. */
  databaseUrl?: string | undefined;
  schemaPrefix?: string | undefined;
  service: ServiceOptions;
}

/** Wiring only: the products database (migrated), the definition, the service base. */
export async function createProductsApp(options: ProductsAppOptions): Promise<ServiceHandle> {
  const store = await openStore<ProductsDatabase>({
    service: 'products',
    dataDir: options.dataDir,
    databaseUrl: options.databaseUrl,
    schemaPrefix: options.schemaPrefix,
    migrations: productsMigrations,
    ...(options.service.logger ? { logger: options.service.logger } : {}),
  });
  try {
    return await defineService(productsService({ store, clock: options.service.clock }), options.service);
  } catch (e) {
    await store.close();
    throw e;
  }
}
