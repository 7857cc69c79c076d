import { isUuid, toCents } from '@meshkit/toolkit';
import { InvalidOrder } from './errors.js';
import { MAX_TOTAL_CENTS } from './order.js';

/** The value rules of DESIGN §4 for a new order. */
export const MAX_ITEMS = 100;
export const MAX_QUANTITY = 10_000;

export interface OrderRequestItem {
  product_id: string;
  quantity: number;
}

/** What a client asks for, as it arrives (already JSON-typed by the route schema, or not). */
export interface OrderRequest {
  user_id: string;
  items: OrderRequestItem[];
  total?: number;
}

export interface RequestedLine {
  productId: string;
  quantity: number;
}

export interface ValidOrderRequest {
  userId: string;
  /** One line per product, first-seen order, quantities summed. */
  lines: RequestedLine[];
  /** The client's expectation, when it stated one. */
  clientTotalCents?: number;
}

function isQuantity(q: unknown): q is number {
  return typeof q === 'number' && Number.isInteger(q) && q >= 1 && q <= MAX_QUANTITY;
}

/**
 * Checks every rule the route schema also checks (the use case does not trust its caller), plus
 * those a schema cannot say: at most 2 decimals in `total`, and quantities after merging.
 */
export function validateOrderRequest(req: OrderRequest): ValidOrderRequest {
  if (typeof req.user_id !== 'string' || !isUuid(req.user_id)) {
    throw new InvalidOrder('user_id must be a UUID');
  }
  if (!Array.isArray(req.items) || req.items.length < 1 || req.items.length > MAX_ITEMS) {
    throw new InvalidOrder(`items must hold 1 to ${MAX_ITEMS} entries`);
  }
  const merged = new Map<string, number>();
  req.items.forEach((item, i) => {
    if (typeof item?.product_id !== 'string' || !isUuid(item.product_id)) {
      throw new InvalidOrder(`items[${i}].product_id must be a UUID`);
    }
    if (!isQuantity(item.quantity)) {
      throw new InvalidOrder(`items[${i}].quantity must be an integer from 1 to ${MAX_QUANTITY}`);
    }
    const quantity = (merged.get(item.product_id) ?? 0) + item.quantity;
    if (quantity > MAX_QUANTITY) {
      throw new InvalidOrder(`product ${item.product_id} is ordered ${quantity} times; at most ${MAX_QUANTITY}`);
    }
    merged.set(item.product_id, quantity);
  });
  const lines = [...merged].map(([productId, quantity]) => ({ productId, quantity }));
  if (req.total === undefined) return { userId: req.user_id, lines };
  const cents = typeof req.total === 'number' && req.total >= 0 ? toCents(req.total) : undefined;
  if (cents === undefined || cents > MAX_TOTAL_CENTS) {
    throw new InvalidOrder(`total must be an amount from 0 to ${MAX_TOTAL_CENTS / 100} with at most 2 decimals`);
  }
  return { userId: req.user_id, lines, clientTotalCents: cents };
}
