import { type Clock, uuidv7 } from '@meshkit/toolkit';
import { InsufficientStock, TotalMismatch, UnknownProduct, UnknownUser } from './domain/errors.js';
import { type Order, type OrderLine, orderTotalCents } from './domain/order.js';
import { type OrderRequest, type RequestedLine, validateOrderRequest } from './domain/order-request.js';
import type { ReserveOutcome, StockReservations } from './remote/stock-reservations.js';
import type { UserDirectory } from './remote/user-directory.js';
import { compensationOf, type RequestContext } from './request-context.js';
import type { OrderRepository } from './store/order-repository.js';

export interface PlaceOrderDeps {
  orders: OrderRepository;
  users: UserDirectory;
  stock: StockReservations;
  clock: Clock;
}

/**
 * Places an order: all items reserved or none. Every reservation that may have been made is
 * released again before any failure is answered, so a refused order holds no stock.
 * Domain failures throw OrderErrors; upstream failures rethrow their MeshError unchanged.
 */
export async function placeOrder(deps: PlaceOrderDeps, request: OrderRequest, ctx: RequestContext = {}): Promise<Order> {
  const { userId, lines, clientTotalCents } = validateOrderRequest(request);
  if (!(await deps.users.exists(userId, ctx))) throw new UnknownUser(userId);

  // A caller that gave up meanwhile: reserve nothing (the calls below would carry its dead deadline anyway).
  ctx.signal?.throwIfAborted();
  const orderId = uuidv7();
  const outcomes = await Promise.allSettled(
    lines.map((line) => deps.stock.reserve(line.productId, orderId, line.quantity, ctx)),
  );
  // A rejected call (timeout, off-contract answer) may still have reserved: release it too.
  const held = lines.filter((_, i) => {
    const o = outcomes[i];
    return o?.status === 'rejected' || o?.value.kind === 'reserved';
  });
  // Not bound by the request's deadline, which may be what failed it: releases get their own.
  const release = () => releaseAll(deps.stock, orderId, held, compensationOf(ctx));

  const failure = firstFailure(lines, outcomes);
  if (failure) {
    await release();
    throw failure.error;
  }

  try {
    const priced: OrderLine[] = lines.map((line, i) => {
      const o = outcomes[i];
      if (o?.status !== 'fulfilled' || o.value.kind !== 'reserved') throw new Error('unreachable: unreserved line');
      return { ...line, unitPriceCents: o.value.unitPriceCents };
    });
    const totalCents = orderTotalCents(priced);
    if (clientTotalCents !== undefined && clientTotalCents !== totalCents) {
      throw new TotalMismatch(clientTotalCents, totalCents);
    }
    const now = Math.round(deps.clock.now());
    const order: Order = {
      id: orderId,
      userId,
      items: priced,
      totalCents,
      status: 'pending',
      createdAtMs: now,
      updatedAtMs: now,
    };
    await deps.orders.insert(order);
    return order;
  } catch (e) {
    await release();
    throw e;
  }
}

/**
 * The error to answer when some reservation did not succeed. A definite answer the client can act
 * on (an unknown product, then short stock) wins over a transient upstream failure.
 */
function firstFailure(
  lines: RequestedLine[],
  outcomes: PromiseSettledResult<ReserveOutcome>[],
): { error: unknown } | undefined {
  let stockShort: { error: InsufficientStock } | undefined;
  let upstream: { error: unknown } | undefined;
  for (const [i, o] of outcomes.entries()) {
    const productId = lines[i]?.productId ?? '';
    if (o.status === 'rejected') upstream ??= { error: o.reason };
    else if (o.value.kind === 'unknown_product') return { error: new UnknownProduct(productId) };
    else if (o.value.kind === 'insufficient_stock') stockShort ??= { error: new InsufficientStock(productId) };
  }
  return stockShort ?? upstream;
}

/** Compensation: best effort, but awaited so the answer is sent only after it ran. */
async function releaseAll(
  stock: StockReservations,
  orderId: string,
  lines: RequestedLine[],
  ctx: RequestContext,
): Promise<void> {
  const results = await Promise.allSettled(lines.map((line) => stock.release(line.productId, orderId, ctx)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') {
      ctx.log?.warn(
        { err: r.reason, orderId, productId: lines[i]?.productId },
        'could not release a reservation of a refused order; the stock stays held',
      );
    }
  });
}
