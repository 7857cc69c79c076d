import {
  type Clock,
  fromCents,
  isUuid,
  NonBlankText,
  PageQuery,
  pageReply,
  parsePage,
  type ServiceApp,
  uuidv7,
} from '@meshkit/toolkit';
import { type Static, Type } from 'typebox';
import { ProductNotFound, ReservationNotFound } from './domain/errors.js';
import {
  checkStock,
  createProduct,
  DESCRIPTION_MAX_LENGTH,
  NAME_MAX_LENGTH,
  PRICE_MAX,
  type Product,
  priceOf,
  STOCK_MAX,
} from './domain/product.js';
import { checkQuantity, QUANTITY_MAX, type Reservation } from './domain/reservation.js';
import type { ProductRepository } from './store/product-repository.js';
import type { ReservationRepository } from './store/reservation-repository.js';

const Name = NonBlankText(NAME_MAX_LENGTH);
// At most 2 decimals is checked with toCents (exactly), not `multipleOf: 0.01` (float noise).
const Price = Type.Number({ minimum: 0, maximum: PRICE_MAX });
const Stock = Type.Integer({ minimum: 0, maximum: STOCK_MAX });
const Quantity = Type.Integer({ minimum: 1, maximum: QUANTITY_MAX });

export const CreateProductBody = Type.Object(
  {
    name: Name,
    price: Price,
    description: Type.Optional(Type.String({ maxLength: DESCRIPTION_MAX_LENGTH })),
    stock: Type.Optional(Stock),
  },
  { additionalProperties: false },
);

export const SetStockBody = Type.Object({ stock: Stock }, { additionalProperties: false });

export const ReserveBody = Type.Object({ quantity: Quantity }, { additionalProperties: false });

const ProductParams = Type.Object({ id: Type.String() });
const ReservationParams = Type.Object({ product_id: Type.String(), order_id: Type.String() });

export const ProductWire = Type.Object({
  id: Type.String(),
  name: Type.String(),
  price: Type.Number(),
  description: Type.String(),
  stock: Type.Integer(),
  created_at: Type.Number(),
  updated_at: Type.Number(),
});
export type ProductWire = Static<typeof ProductWire>;

/** A held reservation, as the orders service reads it; unit_price in currency units. */
export const ReservationWire = Type.Object({
  order_id: Type.String(),
  product_id: Type.String(),
  quantity: Type.Integer(),
  unit_price: Type.Number(),
});
export type ReservationWire = Static<typeof ReservationWire>;

export const ReleasedWire = Type.Object({
  order_id: Type.String(),
  product_id: Type.String(),
  quantity: Type.Integer(),
  status: Type.Literal('released'),
});
export type ReleasedWire = Static<typeof ReleasedWire>;

function toWire(product: Product): ProductWire {
  return {
    id: product.id,
    name: product.name,
    price: priceOf(product),
    description: product.description,
    stock: product.stock,
    created_at: product.createdAt,
    updated_at: product.updatedAt,
  };
}

function reservationWire(r: Reservation): ReservationWire {
  return { order_id: r.orderId, product_id: r.productId, quantity: r.quantity, unit_price: fromCents(r.unitPriceCents) };
}

/** A path id that is not a UUID names no product: 404, like any unknown id. */
function productId(id: string): string {
  if (!isUuid(id)) throw new ProductNotFound(id);
  return id;
}

export interface ProductRoutesDeps {
  products: ProductRepository;
  reservations: ReservationRepository;
  clock: Clock;
}

export function productRoutes(app: ServiceApp, { products, reservations, clock }: ProductRoutesDeps): void {
  const nowSeconds = () => clock.now() / 1000;

  app.post(
    '/products',
    { schema: { body: CreateProductBody, response: { 201: ProductWire } } },
    async (request, reply) => {
      const product = createProduct(request.body, uuidv7(), nowSeconds());
      await products.insert(product);
      return reply.code(201).send(toWire(product));
    },
  );

  app.get(
    '/products',
    { schema: { querystring: PageQuery, response: { 200: Type.Array(ProductWire) } } },
    async (request, reply) => {
      const page = parsePage(request.query);
      return pageReply(reply, await products.listPage(page), page, '/products').map(toWire);
    },
  );

  app.get('/products/:id', { schema: { params: ProductParams, response: { 200: ProductWire } } }, async (request) => {
    const id = productId(request.params.id);
    const product = await products.findById(id);
    if (!product) throw new ProductNotFound(id);
    return toWire(product);
  });

  app.put(
    '/products/:id/stock',
    { schema: { params: ProductParams, body: SetStockBody, response: { 200: ProductWire } } },
    async (request) => {
      const id = productId(request.params.id);
      const product = await products.setStock(id, checkStock(request.body.stock), nowSeconds());
      if (!product) throw new ProductNotFound(id);
      return toWire(product);
    },
  );

  // Internal: the orders service holds and gives back stock per order line. The gateway routes
  // only /users, /products and /orders, so clients never reach these.
  app.put(
    '/internal/products/:product_id/reservations/:order_id',
    { schema: { params: ReservationParams, body: ReserveBody, response: { 200: ReservationWire, 201: ReservationWire } } },
    async (request, reply) => {
      const { product_id, order_id } = request.params;
      const quantity = checkQuantity(request.body.quantity);
      if (!isUuid(product_id)) throw new ProductNotFound(product_id);
      if (!isUuid(order_id)) throw new ReservationNotFound(order_id, product_id);
      const { reservation, created } = await reservations.reserve(
        { orderId: order_id, productId: product_id, quantity },
        nowSeconds(),
      );
      return reply.code(created ? 201 : 200).send(reservationWire(reservation));
    },
  );

  app.delete(
    '/internal/products/:product_id/reservations/:order_id',
    { schema: { params: ReservationParams, response: { 200: ReleasedWire } } },
    async (request): Promise<ReleasedWire> => {
        const { product_id, order_id } = request.params;
        if (!isUuid(product_id)) throw new ProductNotFound(product_id);
        if (!isUuid(order_id)) throw new ReservationNotFound(order_id, product_id);
        const outcome = await reservations.release(order_id, product_id, nowSeconds());
        if (outcome.action === 'never_held') throw new ReservationNotFound(order_id, product_id);
        const { quantity } = outcome.reservation;
        return { order_id, product_id, quantity, status: 'released' };
    },
  );
}
