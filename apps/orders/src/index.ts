export { ORDER_STATUSES, type OrderStatus } from './domain/order.js';
export { createOrdersApp, type OrdersAppOptions } from './main.js';
export { OrderView } from './order-view.js';
export { ORDERS_SERVICE, ordersService, type OrdersServiceDeps } from './service.js';
export { ordersMigrations } from './store/migrations.js';
export type { OrdersDatabase } from './store/tables.js';
