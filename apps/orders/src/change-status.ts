import { type Clock, isUuid } from '@meshkit/toolkit';
import { ConcurrentStatusChange, InvalidOrder, OrderNotFound } from './domain/errors.js';
import { assertMove, isOrderStatus, ORDER_STATUSES, type Order, releasesStock } from './domain/order.js';
import type { StockReservations } from './remote/stock-reservations.js';
import { compensationOf, type RequestContext } from './request-context.js';
import type { OrderRepository } from './store/order-repository.js';

export interface ChangeStatusDeps {
  orders: OrderRepository;
  stock: StockReservations;
  clock: Clock;
}

/**
 * Moves an order along the status machine. Cancelling first releases every item's stock; if a
 * release fails the error propagates and the status stays, and a retry is safe because releasing
 * is idempotent. The write is a compare-and-set on the status read, so concurrent moves cannot
 * both win.
 */
export async function changeOrderStatus(
  deps: ChangeStatusDeps,
  orderId: string,
  status: string,
  ctx: RequestContext = {},
): Promise<Order> {
  if (!isOrderStatus(status)) throw new InvalidOrder(`status must be one of ${ORDER_STATUSES.join(', ')}`);
  if (!isUuid(orderId)) throw new OrderNotFound(orderId);
  const order = await deps.orders.findById(orderId);
  if (!order) throw new OrderNotFound(orderId);
  assertMove(order.status, status);

  if (releasesStock(status)) {
    const results = await Promise.allSettled(
      order.items.map((line) => deps.stock.release(line.productId, order.id, ctx)),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  const now = Math.round(deps.clock.now());
  if (!(await deps.orders.moveStatus(order.id, order.status, status, now))) {
    if (releasesStock(status)) await holdAgain(deps, order, ctx);
    throw new ConcurrentStatusChange(order.id);
  }
  return { ...order, status, updatedAtMs: now };
}

/**
 * We released the stock, then lost the race to another move (say pending → confirmed): unless
 * that move was itself a cancel, the order still needs its stock. Best effort; logged when not.
 */
async function holdAgain(deps: ChangeStatusDeps, order: Order, ctx: RequestContext): Promise<void> {
  const now = await deps.orders.findById(order.id);
  if (!now || now.status === 'cancelled') return;
  const results = await Promise.allSettled(
    order.items.map((line) => deps.stock.reserve(line.productId, order.id, line.quantity, compensationOf(ctx))),
  );
  results.forEach((r, i) => {
    if (r.status === 'rejected' || r.value.kind !== 'reserved') {
      ctx.log?.warn(
        { orderId: order.id, productId: order.items[i]?.productId, outcome: r.status === 'rejected' ? r.reason : r.value },
        'a lost cancel released stock the order still needs, and it could not be reserved again',
      );
    }
  });
}
