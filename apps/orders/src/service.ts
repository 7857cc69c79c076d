import { type Clock, type ServiceCaller, type ServiceDefinition, type Store, systemClock } from '@meshkit/toolkit';
import { stockReservations } from './remote/stock-reservations.js';
import { userDirectory } from './remote/user-directory.js';
import { orderRoutes } from './routes.js';
import { OrderRepository } from './store/order-repository.js';
import type { OrdersDatabase } from './store/tables.js';

export const ORDERS_SERVICE = 'order-service';

export interface OrdersServiceDeps {
  store: Store<OrdersDatabase>;
  /** The only way to users and products: never their databases. */
  caller: ServiceCaller;
  /** Stamps created_at/updated_at. Default: the system clock. */
  clock?: Clock;
}

/** The orders service: its routes over its own store, users and products reached by `caller`. */
export function ordersService(deps: OrdersServiceDeps): ServiceDefinition {
  const orders = new OrderRepository(deps.store.db);
  const routes = orderRoutes({
    orders,
    users: userDirectory(deps.caller),
    stock: stockReservations(deps.caller),
    clock: deps.clock ?? systemClock,
  });
  return {
    name: ORDERS_SERVICE,
    version: '1.0.0',
    routes,
    ready: () => orders.ping(),
    close: () => deps.store.close(),
    // A retried POST (same Idempotency-Key) replays its first answer instead of acting twice.
    idempotency: { store: deps.store },
  };
}
