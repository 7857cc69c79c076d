import {
  isUuid,
  MeshError,
  type Page,
  PageQuery,
  pageOf,
  parsePage,
  type ServiceApp,
  type TraceContext,
  urlPath,
} from '@meshkit/toolkit';
import { Type } from 'typebox';
import { type ChangeStatusDeps, changeOrderStatus } from './change-status.js';
import { MAX_TOTAL_CENTS, ORDER_STATUSES, type Order } from './domain/order.js';
import { MAX_ITEMS, MAX_QUANTITY } from './domain/order-request.js';
import { toHttpError } from './http-errors.js';
import { OrderView, orderView } from './order-view.js';
import { type PlaceOrderDeps, placeOrder } from './place-order.js';
import type { RequestContext } from './request-context.js';

/** Canonical lower-case UUID, as `isUuid` accepts it. */
const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
const Uuid = Type.String({ pattern: UUID_PATTERN });

export const PlaceOrderBody = Type.Object(
  {
    user_id: Uuid,
    items: Type.Array(
      Type.Object(
        { product_id: Uuid, quantity: Type.Integer({ minimum: 1, maximum: MAX_QUANTITY }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_ITEMS },
    ),
    // At most 2 decimals is checked by the use case: JSON Schema's multipleOf is not exact on floats.
    total: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_TOTAL_CENTS / 100 })),
  },
  { additionalProperties: false },
);

export const ChangeStatusBody = Type.Object(
  { status: Type.Enum(ORDER_STATUSES) },
  { additionalProperties: false },
);

const OrderIdParams = Type.Object({ id: Type.String() }, { additionalProperties: false });
const UserIdParams = Type.Object({ user_id: Type.String() }, { additionalProperties: false });
const OrderList = Type.Array(OrderView);

export type OrderRouteDeps = PlaceOrderDeps & ChangeStatusDeps;

interface IncomingRequest {
  id: string;
  headers: Record<string, string | string[] | undefined>;
  log: RequestContext['log'];
  /** The caller's deadline and give-up signal (the toolkit's deadline hook). */
  meshkit?: { deadline: number | undefined; signal: AbortSignal } | null;
  /** The request's span context when tracing is on. */
  traceContext?: TraceContext;
}

function contextOf(req: IncomingRequest): RequestContext {
  const traceparent = req.headers.traceparent;
  const deadline = req.meshkit?.deadline;
  return {
    requestId: req.id,
    ...(typeof traceparent === 'string' ? { traceparent } : {}),
    ...(deadline === undefined ? {} : { deadline }),
    ...(req.meshkit ? { signal: req.meshkit.signal } : {}),
    ...(req.traceContext ? { traceContext: req.traceContext } : {}),
    ...(req.log ? { log: req.log } : {}),
  };
}

/** Runs a handler body, turning domain errors into HTTP problems: the only place that does. */
async function atEdge<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw toHttpError(e);
  }
}


/** Answers a page of orders as a JSON array, with `Link: <…>; rel="next"` when more remain. */
function pageReply(
  reply: { header(name: string, value: string): unknown },
  rows: Order[],
  page: Page,
  url: string,
): OrderView[] {
  const { items, link } = pageOf(rows, page, urlPath(url));
  if (link) reply.header('link', link);
  return items.map(orderView);
}

export function orderRoutes(deps: OrderRouteDeps): (app: ServiceApp) => void {
  return (app) => {
    app.post(
      '/orders',
      {
        schema: { body: PlaceOrderBody, response: { 201: OrderView } },
        // No order can be placed while users or products cannot take a call (every breaker open,
        // no instance): answer their 503 at once, before the idempotency claim or any other work.
        onRequest: (_req, _reply, done) => {
          try {
            deps.users.ensureAvailable();
            deps.stock.ensureAvailable();
            done();
          } catch (err) {
            done(err as Error);
          }
        },
      },
      async (req, reply) =>
        atEdge(async () => {
          const order = await placeOrder(deps, req.body, contextOf(req));
          reply.code(201);
          return orderView(order);
        }),
    );

    app.get('/orders', { schema: { querystring: PageQuery, response: { 200: OrderList } } }, async (req, reply) => {
      const page = parsePage(req.query);
      return pageReply(reply, await deps.orders.list(page), page, req.url);
    });

    app.get(
      '/orders/:id',
      { schema: { params: OrderIdParams, response: { 200: OrderView } } },
      async (req) => {
        const order = isUuid(req.params.id) ? await deps.orders.findById(req.params.id) : undefined;
        if (!order) throw new MeshError('NOT_FOUND', `order ${req.params.id} not found`);
        return orderView(order);
      },
    );

    app.get(
      '/orders/user/:user_id',
      { schema: { params: UserIdParams, querystring: PageQuery, response: { 200: OrderList } } },
      async (req, reply) => {
        // Orders only keep user ids: a user with no orders, known or not, has an empty list.
        if (!isUuid(req.params.user_id)) throw new MeshError('NOT_FOUND', `user ${req.params.user_id} not found`);
        const page = parsePage(req.query);
        return pageReply(reply, await deps.orders.listByUser(req.params.user_id, page), page, req.url);
      },
    );

    app.put(
      '/orders/:id/status',
      { schema: { params: OrderIdParams, body: ChangeStatusBody, response: { 200: OrderView } } },
      async (req) =>
        atEdge(async () => orderView(await changeOrderStatus(deps, req.params.id, req.body.status, contextOf(req)))),
    );
  };
}
