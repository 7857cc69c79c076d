import type { ReservationStatus } from '../domain/reservation.js';

/** Kysely table types of the products database (one database per service). */
export interface ProductsTable {
  id: string;
  name: string;
  description: string;
  /** Integer cents; up to 10¹¹, so a bigint column (the PostgreSQL store reads int8 as a number; Number() still guards). */
  price_cents: number;
  /** CHECK (stock >= 0): the database refuses to oversell even if the code were wrong. */
  stock: number;
  /** Epoch seconds, fractional. */
  created_at: number;
  updated_at: number;
}

/** One row per (order, product): the key that makes reserving idempotent. */
export interface ReservationsTable {
  order_id: string;
  product_id: string;
  /** 1–10 000; 0 only for a tombstone (a release that came before any reservation). */
  quantity: number;
  unit_price_cents: number;
  status: ReservationStatus;
  created_at: number;
  updated_at: number;
}

export interface ProductsDatabase {
  products: ProductsTable;
  product_reservations: ReservationsTable;
}
