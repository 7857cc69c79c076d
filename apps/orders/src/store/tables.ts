/** The orders service's own tables (kysely types). Money in integer cents, times in epoch ms. */
export interface OrdersTable {
  id: string;
  user_id: string;
  status: string;
  total_cents: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface OrderItemsTable {
  order_id: string;
  /** The line's place in the order as the client listed it. */
  position: number;
  product_id: string;
  quantity: number;
  unit_price_cents: number;
}

export interface OrdersDatabase {
  orders: OrdersTable;
  order_items: OrderItemsTable;
}
