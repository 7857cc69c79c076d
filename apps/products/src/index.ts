export { createProductsApp } from './main.js';
export { PRODUCTS_SERVICE, type ProductsServiceDeps, productsService } from './service.js';
export { productsMigrations } from './store/migrations.js';
export type { ProductsDatabase, ProductsTable, ReservationsTable } from './store/tables.js';
export type { Product } from './domain/product.js';
export { ProductWire, ReleasedWire, ReservationWire } from './routes.js';
