import { type Clock, type ServiceDefinition, type Store, systemClock } from '@meshkit/toolkit';
import { sql } from 'kysely';
import { productRoutes } from './routes.js';
import { ProductRepository } from './store/product-repository.js';
import { ReservationRepository } from './store/reservation-repository.js';
import type { ProductsDatabase } from './store/tables.js';

/** The registry name, as in the seed. */
export const PRODUCTS_SERVICE = 'product-service';

export interface ProductsServiceDeps {
  store: Store<ProductsDatabase>;
  /** Source of created_at/updated_at. Default: the system clock. */
  clock?: Clock;
}

export function productsService(deps: ProductsServiceDeps): ServiceDefinition {
  const { store } = deps;
  const clock = deps.clock ?? systemClock;
  const products = new ProductRepository(store.db);
  const reservations = new ReservationRepository(store.db, store.dialect);
  return {
    name: PRODUCTS_SERVICE,
    version: '1.0.0',
    routes: (app) => productRoutes(app, { products, reservations, clock }),
    async ready() {
      await sql`select 1`.execute(store.db);
    },
    close: () => store.close(),
    // A retried POST (same Idempotency-Key) replays its first answer instead of acting twice.
    idempotency: { store },
  };
}
