import { fromCents } from '@meshkit/toolkit';
import { type Static, Type } from 'typebox';
import { ORDER_STATUSES, type Order } from './domain/order.js';

/** An order on the wire: money in currency units, times in epoch seconds (as the seed). */
export const OrderItemView = Type.Object(
  {
    product_id: Type.String(),
    quantity: Type.Integer(),
    unit_price: Type.Number(),
  },
  { additionalProperties: false },
);

export const OrderView = Type.Object(
  {
    id: Type.String(),
    user_id: Type.String(),
    items: Type.Array(OrderItemView),
    total: Type.Number(),
    status: Type.Enum(ORDER_STATUSES),
    created_at: Type.Number(),
    updated_at: Type.Number(),
  },
  { additionalProperties: false },
);
export type OrderView = Static<typeof OrderView>;

export function orderView(order: Order): OrderView {
  return {
    id: order.id,
    user_id: order.userId,
    items: order.items.map((line) => ({
      product_id: line.productId,
      quantity: line.quantity,
      unit_price: fromCents(line.unitPriceCents),
    })),
    total: fromCents(order.totalCents),
    status: order.status,
    created_at: order.createdAtMs / 1000,
    updated_at: order.updatedAtMs / 1000,
  };
}
