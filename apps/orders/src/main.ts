import { defineService, openStore, type ServiceCaller, type ServiceHandle, type ServiceOptions } from '@meshkit/toolkit';
import { ordersService } from './service.js';
import { ordersMigrations } from './store/migrations.js';
import type { OrdersDatabase } from './store/tables.js';

export interface OrdersAppOptions {
  /** Folder of the SQLite file (`orders.sqlite` in it); unused with `databaseUrl`. */
  dataDir: string;
  /** PostgreSQL: the orders tables live in schema `<schemaPrefix>orders` there. */
  databaseUrl?: string | undefined;
  schemaPrefix?: string | undefined;
  /** How this service reaches user-service and product-service. */
  caller: ServiceCaller;
  service: ServiceOptions;
}

/** Wiring only: opens the store (migrated), builds the service. Call `start()` on the handle. */
export async function createOrdersApp(options: OrdersAppOptions): Promise<ServiceHandle> {
  const store = await openStore<OrdersDatabase>({
    service: 'orders',
    dataDir: options.dataDir,
    databaseUrl: options.databaseUrl,
    schemaPrefix: options.schemaPrefix,
    migrations: ordersMigrations,
    ...(options.service.logger ? { logger: options.service.logger } : {}),
  });
  try {
    return await defineService(
      ordersService({
        store,
        caller: options.caller,
        ...(options.service.clock ? { clock: options.service.clock } : {}),
      }),
      options.service,
    );
  } catch (e) {
    await store.close();
    throw e;
  }
}
