import { IllegalStatusMove, TotalTooLarge } from './errors.js';

/**
 * An order and its rules: the status machine and exact money. Pure: no I/O, no clock, no HTTP.
 */

export const ORDER_STATUSES = ['pending', 'confirmed', 'shipped', 'delivered', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** The only legal moves. Anything else, including staying put, is a conflict. */
const NEXT: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending: ['confirmed', 'cancelled'],
  confirmed: ['shipped', 'cancelled'],
  shipped: ['delivered'],
  delivered: [],
  cancelled: [],
};

export function isOrderStatus(s: unknown): s is OrderStatus {
  return typeof s === 'string' && (ORDER_STATUSES as readonly string[]).includes(s);
}

export function canMove(from: OrderStatus, to: OrderStatus): boolean {
  return NEXT[from].includes(to);
}

export function assertMove(from: OrderStatus, to: OrderStatus): void {
  if (!canMove(from, to)) throw new IllegalStatusMove(from, to);
}

/** Cancelling gives the reserved stock back; no other move touches stock. */
export function releasesStock(to: OrderStatus): boolean {
  return to === 'cancelled';
}

export interface OrderLine {
  productId: string;
  quantity: number;
  /** The product's price when the stock was reserved, in integer cents. */
  unitPriceCents: number;
}

export interface Order {
  id: string;
  userId: string;
  /** In the order the client listed them (duplicates merged). */
  items: OrderLine[];
  totalCents: number;
  status: OrderStatus;
  /** Epoch milliseconds. */
  createdAtMs: number;
  updatedAtMs: number;
}

/**
 * The largest total we accept: `cents / 100` sent as a JSON number still reads back as exactly
 * `cents` (the error of a double at 10¹³ currency units stays far below half a cent).
 */
export const MAX_TOTAL_CENTS = 10 ** 15;

/** Σ unit price × quantity, exact (BigInt), refused when it would not survive the wire. */
export function orderTotalCents(lines: readonly OrderLine[]): number {
  let sum = 0n;
  for (const line of lines) sum += BigInt(line.unitPriceCents) * BigInt(line.quantity);
  if (sum > BigInt(MAX_TOTAL_CENTS)) throw new TotalTooLarge();
  return Number(sum);
}
