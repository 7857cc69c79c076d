import { defineService, MeshError, uuidv7 } from '@meshkit/toolkit';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { engines, useServiceHarness } from '../../../test/support/service-harness.js';
import { FakeMesh } from '../test/support/fake-mesh.js';
import { ORDER_STATUSES, type OrderStatus } from './domain/order.js';
import { createOrdersApp } from './main.js';
import type { OrderView } from './order-view.js';
import { ordersService } from './service.js';
import { ordersMigrations } from './store/migrations.js';
import type { OrdersDatabase } from './store/tables.js';

describe.each(engines)('orders on %s', (engine) => {
  let mesh: FakeMesh;

  // Registered before the harness's own beforeEach, so the mesh exists when the service opens.
  beforeEach(() => {
    mesh = new FakeMesh();
  });

  // The system clock: the tests bound created_at by Date.now().
  const service = useServiceHarness({
    name: 'orders',
    engine,
    open: (options) => createOrdersApp({ ...options, caller: mesh }),
  });

  const inject = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    service.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  const placeOrder = (body: unknown, headers: Record<string, string> = {}) => inject('POST', '/orders', body, headers);
  const setStatus = (id: string, status: unknown) => inject('PUT', `/orders/${id}/status`, { status });
  type InjectResponse = Awaited<ReturnType<typeof inject>>;
  const orderOf = (res: InjectResponse) => res.json<OrderView>();

  function expectProblem(res: InjectResponse, status: number, detail?: string | RegExp): void {
    expect(res.statusCode, res.body).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json<{ type: string; title: string; status: number; detail: string }>();
    expect(body.status).toBe(status);
    expect(typeof body.type).toBe('string');
    expect(typeof body.title).toBe('string');
    if (detail !== undefined) expect(body.detail).toMatch(detail);
  }

  /** Nothing of a refused order remains: no stored order, no reservation, stock as it was. */
  async function expectNoTrace(stock: Record<string, number>): Promise<void> {
    expect((await inject('GET', '/orders')).json()).toEqual([]);
    expect([...mesh.reservations.keys()]).toEqual([]);
    for (const [id, n] of Object.entries(stock)) expect(mesh.stockOf(id), id).toBe(n);
  }

  const isProductPut = (productId?: string) => (service: string, req: { method: string; path: string }) =>
    service === 'product-service' && req.method === 'PUT' && (productId === undefined || req.path.includes(productId));

  describe('placing an order', () => {
    it("runs the seed's flow: 1 × 999.99 with the client's total 999.99", async () => {
      const user = mesh.addUser(uuidv7());
      const laptop = mesh.addProduct(uuidv7(), 999.99, 10);
      const before = Date.now() / 1000;
      const res = await placeOrder(
        { user_id: user, items: [{ product_id: laptop, quantity: 1 }], total: 999.99 },
        { 'x-request-id': 'seed-flow-1' },
      );
      expect(res.statusCode, res.body).toBe(201);
      const order = orderOf(res);
      expect(order).toMatchObject({
        user_id: user,
        items: [{ product_id: laptop, quantity: 1, unit_price: 999.99 }],
        total: 999.99,
        status: 'pending',
      });
      expect(order.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(order.created_at).toBeGreaterThanOrEqual(Math.floor(before));
      expect(order.created_at).toBeLessThanOrEqual(Date.now() / 1000 + 1);
      expect(order.updated_at).toBe(order.created_at);
      expect(mesh.stockOf(laptop)).toBe(9);
      expect(mesh.reservations.get(`${laptop}/${order.id}`)).toBe(1);
      // The request id follows the order to the services it calls.
      expect(mesh.calls.map((c) => c.requestId)).toEqual(['seed-flow-1', 'seed-flow-1']);

      const list = await inject('GET', `/orders/user/${user}`);
      expect(list.statusCode).toBe(200);
      expect(list.json()).toEqual([order]);
      expect((await inject('GET', `/orders/${order.id}`)).json()).toEqual(order);
    });

    it('computes the total exactly: 3 × 0.10 + 1 × 0.20 is 0.50', async () => {
      const user = mesh.addUser(uuidv7());
      const dime = mesh.addProduct(uuidv7(), 0.1, 10);
      const twenty = mesh.addProduct(uuidv7(), 0.2, 10);
      const items = [
        { product_id: dime, quantity: 3 },
        { product_id: twenty, quantity: 1 },
      ];
      const withoutTotal = await placeOrder({ user_id: user, items });
      expect(withoutTotal.statusCode, withoutTotal.body).toBe(201);
      expect(orderOf(withoutTotal).total).toBe(0.5);
      const withTotal = await placeOrder({ user_id: user, items, total: 0.5 });
      expect(withTotal.statusCode, withTotal.body).toBe(201);
      expect(orderOf(withTotal)).toMatchObject({
        total: 0.5,
        items: [
          { product_id: dime, quantity: 3, unit_price: 0.1 },
          { product_id: twenty, quantity: 1, unit_price: 0.2 },
        ],
      });
    });

    it('merges duplicate products into one line and one reservation', async () => {
      const user = mesh.addUser(uuidv7());
      const p = mesh.addProduct(uuidv7(), 2.5, 10);
      const res = await placeOrder({
        user_id: user,
        items: [
          { product_id: p, quantity: 2 },
          { product_id: p, quantity: 3 },
        ],
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(orderOf(res).items).toEqual([{ product_id: p, quantity: 5, unit_price: 2.5 }]);
      expect(orderOf(res).total).toBe(12.5);
      expect(mesh.callsTo('PUT')).toHaveLength(1);
      expect(mesh.stockOf(p)).toBe(5);
    });

    it('refuses a client total that disagrees (422) and gives the stock back', async () => {
      const user = mesh.addUser(uuidv7());
      const a = mesh.addProduct(uuidv7(), 999.99, 10);
      const b = mesh.addProduct(uuidv7(), 0.1, 10);
      const res = await placeOrder({
        user_id: user,
        items: [
          { product_id: a, quantity: 1 },
          { product_id: b, quantity: 3 },
        ],
        total: 999.99,
      });
      expectProblem(res, 422, 'total does not match');
      expect(mesh.callsTo('DELETE')).toHaveLength(2);
      await expectNoTrace({ [a]: 10, [b]: 10 });
    });

    it('refuses an unknown user (422) without reserving anything', async () => {
      const p = mesh.addProduct(uuidv7(), 1, 10);
      const res = await placeOrder({ user_id: uuidv7(), items: [{ product_id: p, quantity: 1 }] });
      expectProblem(res, 422, 'unknown user');
      expect(mesh.callsTo('PUT')).toEqual([]);
      await expectNoTrace({ [p]: 10 });
    });

    it('refuses an unknown product (422) and releases the others', async () => {
      const user = mesh.addUser(uuidv7());
      const known = mesh.addProduct(uuidv7(), 1, 10);
      const unknown = uuidv7();
      const res = await placeOrder({
        user_id: user,
        items: [
          { product_id: known, quantity: 2 },
          { product_id: unknown, quantity: 1 },
        ],
      });
      expectProblem(res, 422, `unknown product ${unknown}`);
      expect(mesh.callsTo('DELETE', known)).toHaveLength(1);
      expect(mesh.callsTo('DELETE', unknown)).toEqual([]);
      await expectNoTrace({ [known]: 10 });
    });

    it('answers 409 when the 2nd of 3 items is short, releasing the 1st and 3rd', async () => {
      const user = mesh.addUser(uuidv7());
      const first = mesh.addProduct(uuidv7(), 1, 10);
      const short = mesh.addProduct(uuidv7(), 1, 2);
      const third = mesh.addProduct(uuidv7(), 1, 10);
      const res = await placeOrder({
        user_id: user,
        items: [
          { product_id: first, quantity: 5 },
          { product_id: short, quantity: 3 },
          { product_id: third, quantity: 1 },
        ],
      });
      expectProblem(res, 409, `insufficient stock for ${short}`);
      expect(mesh.callsTo('DELETE', first)).toHaveLength(1);
      expect(mesh.callsTo('DELETE', third)).toHaveLength(1);
      expect(mesh.callsTo('DELETE', short)).toEqual([]);
      await expectNoTrace({ [first]: 10, [short]: 2, [third]: 10 });
    });

    it('prefers a definite answer to a transient one: unknown product over short stock over 503', async () => {
      const user = mesh.addUser(uuidv7());
      const down = mesh.addProduct(uuidv7(), 1, 10);
      const short = mesh.addProduct(uuidv7(), 1, 0);
      const unknown = uuidv7();
      mesh.failWhen(isProductPut(down), { reject: new MeshError('NO_HEALTHY_INSTANCE', 'down') });
      const items = [
        { product_id: down, quantity: 1 },
        { product_id: short, quantity: 1 },
      ];
      expectProblem(await placeOrder({ user_id: user, items }), 409, `insufficient stock for ${short}`);
      expectProblem(
        await placeOrder({ user_id: user, items: [...items, { product_id: unknown, quantity: 1 }] }),
        422,
        `unknown product ${unknown}`,
      );
      await expectNoTrace({ [down]: 10, [short]: 0 });
    });

    it('passes a products outage (503) through after compensating', async () => {
      const user = mesh.addUser(uuidv7());
      const ok = mesh.addProduct(uuidv7(), 1, 10);
      const down = mesh.addProduct(uuidv7(), 1, 10);
      mesh.failWhen(isProductPut(down), {
        reject: new MeshError('NO_HEALTHY_INSTANCE', 'no healthy product-service', { retryAfter: 2 }),
      });
      const res = await placeOrder({
        user_id: user,
        items: [
          { product_id: ok, quantity: 4 },
          { product_id: down, quantity: 1 },
        ],
      });
      expectProblem(res, 503);
      expect(res.headers['retry-after']).toBe('2');
      expect(mesh.callsTo('DELETE', ok)).toHaveLength(1);
      await expectNoTrace({ [ok]: 10, [down]: 10 });
    });

    it('answers at once when products or users cannot take a call: no lookup, no claim of the Idempotency-Key', async () => {
      const user = mesh.addUser(uuidv7());
      const p = mesh.addProduct(uuidv7(), 1, 10);
      const order = { user_id: user, items: [{ product_id: p, quantity: 1 }] };
      const key = { 'idempotency-key': `fast-${uuidv7()}` };
      for (const service of ['product-service', 'user-service']) {
        mesh.unavailable.set(
          service,
          new MeshError('NO_HEALTHY_INSTANCE', `every instance of ${service} has an open circuit breaker`, { retryAfter: 7 }),
        );
        const res = await placeOrder(order, key);
        expectProblem(res, 503, new RegExp(service));
        expect(res.headers['retry-after']).toBe('7');
        // The dependency failed, not this service: the caller's breaker for it must not count it.
        expect(res.headers['x-meshkit-upstream-error']).toBeDefined();
        mesh.unavailable.clear();
      }
      expect(mesh.calls).toEqual([]);
      await expectNoTrace({ [p]: 10 });

      // The key was never claimed: the same request goes through once they are back.
      expect((await placeOrder(order, key)).statusCode).toBe(201);
      expect(mesh.stockOf(p)).toBe(9);
    });

    it('passes a users outage (502) through and reserves nothing', async () => {
      const user = mesh.addUser(uuidv7());
      const p = mesh.addProduct(uuidv7(), 1, 10);
      mesh.failWhen((s) => s === 'user-service', { reject: new MeshError('UPSTREAM_FAILED', 'reset') });
      expectProblem(await placeOrder({ user_id: user, items: [{ product_id: p, quantity: 1 }] }), 502);
      expect(mesh.callsTo('PUT')).toEqual([]);
    });

    it('releases a reservation whose answer was lost (a timeout after the work was done)', async () => {
      const user = mesh.addUser(uuidv7());
      const a = mesh.addProduct(uuidv7(), 1, 10);
      const b = mesh.addProduct(uuidv7(), 1, 10);
      mesh.failWhen(isProductPut(b), { reject: new MeshError('UPSTREAM_TIMEOUT', 'slow'), afterApplying: true });
      const res = await placeOrder({
        user_id: user,
        items: [
          { product_id: a, quantity: 1 },
          { product_id: b, quantity: 7 },
        ],
      });
      expectProblem(res, 504);
      await expectNoTrace({ [a]: 10, [b]: 10 });
    });

    it('treats an off-contract reservation answer as an upstream failure (502) and releases it', async () => {
      const user = mesh.addUser(uuidv7());
      const p = mesh.addProduct(uuidv7(), 1, 10);
      mesh.failWhen(isProductPut(p), { status: 201, body: { order_id: 'x' }, afterApplying: true });
      expectProblem(await placeOrder({ user_id: user, items: [{ product_id: p, quantity: 1 }] }), 502);
      await expectNoTrace({ [p]: 10 });
    });

    it('maps an upstream 5xx answer to 502, and an answered 503 to 503', async () => {
      const user = mesh.addUser(uuidv7());
      const p = mesh.addProduct(uuidv7(), 1, 10);
      mesh.failWhen(isProductPut(p), { status: 500 }, 1);
      expectProblem(await placeOrder({ user_id: user, items: [{ product_id: p, quantity: 1 }] }), 502);
      mesh.failWhen(isProductPut(p), { status: 503 }, 1);
      expectProblem(await placeOrder({ user_id: user, items: [{ product_id: p, quantity: 1 }] }), 503);
      await expectNoTrace({ [p]: 10 });
    });

    it('refuses a total too large to carry exactly (422) and releases the stock', async () => {
      const user = mesh.addUser(uuidv7());
      const items = Array.from({ length: 2 }, () => ({ product_id: mesh.addProduct(uuidv7(), 1e9, 10_000), quantity: 10_000 }));
      expectProblem(await placeOrder({ user_id: user, items }), 422, 'too large');
      await expectNoTrace(Object.fromEntries(items.map((i) => [i.product_id, 10_000])));
    });

    describe('refuses every bad input with a 4xx problem, storing and reserving nothing', () => {
      const user = uuidv7();
      const product = uuidv7();
      const item = { product_id: product, quantity: 1 };
      const ok = { user_id: user, items: [item] };
      const cases: Array<[string, unknown, number?]> = [
        ['an empty object', {}],
        ['an array body', [ok]],
        ['a missing user_id', { items: [item] }],
        ['a user_id that is not a UUID', { ...ok, user_id: 'u-1' }],
        ['a numeric user_id', { ...ok, user_id: 1 }],
        ['an upper-case user_id', { ...ok, user_id: user.toUpperCase() }],
        ['missing items', { user_id: user }],
        ['items not an array', { user_id: user, items: item }],
        ['no items', { user_id: user, items: [] }],
        ['101 items', { user_id: user, items: Array.from({ length: 101 }, () => ({ product_id: uuidv7(), quantity: 1 })) }],
        ['an item without product_id', { user_id: user, items: [{ quantity: 1 }] }],
        ['an item without quantity', { user_id: user, items: [{ product_id: product }] }],
        ['a product_id that is not a UUID', { user_id: user, items: [{ product_id: 'p1', quantity: 1 }] }],
        ['quantity 0', { user_id: user, items: [{ product_id: product, quantity: 0 }] }],
        ['quantity -1', { user_id: user, items: [{ product_id: product, quantity: -1 }] }],
        ['quantity 10001', { user_id: user, items: [{ product_id: product, quantity: 10_001 }] }],
        ['quantity 1.5', { user_id: user, items: [{ product_id: product, quantity: 1.5 }] }],
        ['quantity "1" (no coercion)', { user_id: user, items: [{ product_id: product, quantity: '1' }] }],
        ['more than 10000 after merging', { user_id: user, items: [{ product_id: product, quantity: 10_000 }, item] }],
        ['an unknown body field', { ...ok, coupon: 'FREE' }],
        ['an unknown item field', { user_id: user, items: [{ ...item, unit_price: 0.01 }] }],
        ['total "999.99" (no coercion)', { ...ok, total: '999.99' }],
        ['total with 3 decimals', { ...ok, total: 1.005 }],
        ['a negative total', { ...ok, total: -1 }],
        ['a null total', { ...ok, total: null }],
        ['a total above any possible order', { ...ok, total: 1e300 }],
      ];
      it.each(cases)('%s', async (_, body) => {
        mesh.addUser(user);
        mesh.addProduct(product, 1, 10);
        expectProblem(await placeOrder(body), 400);
        expect(mesh.callsTo('PUT')).toEqual([]);
        await expectNoTrace({ [product]: 10 });
      });

      it('a body that is not JSON (400) or not declared JSON (415)', async () => {
        mesh.addUser(user);
        mesh.addProduct(product, 1, 10);
        expectProblem(await inject('POST', '/orders', '{"user_id":', { 'content-type': 'application/json' }), 400);
        expectProblem(await inject('POST', '/orders', JSON.stringify(ok), { 'content-type': 'text/plain' }), 415);
        await expectNoTrace({ [product]: 10 });
      });
    });
  });

  describe('reading orders', () => {
    it('answers 404 for an id that is not a UUID or not an order', async () => {
      expectProblem(await inject('GET', '/orders/not-a-uuid'), 404);
      expectProblem(await inject('GET', `/orders/${uuidv7()}`), 404);
      expectProblem(await inject('GET', '/orders/user/not-a-uuid'), 404);
      expectProblem(await setStatus(uuidv7(), 'confirmed'), 404);
      expectProblem(await setStatus('nope', 'confirmed'), 404);
    });

    it("lists an unknown user's orders as []", async () => {
      const res = await inject('GET', `/orders/user/${uuidv7()}`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual([]);
      expect(res.headers.link).toBeUndefined();
    });

    it("pages over a user's orders, visiting each exactly once in creation order", async () => {
      const user = mesh.addUser(uuidv7());
      const other = mesh.addUser(uuidv7());
      const p = mesh.addProduct(uuidv7(), 1, 100);
      const placed: string[] = [];
      for (let i = 0; i < 7; i++) {
        const res = await placeOrder({ user_id: i % 3 === 2 ? other : user, items: [{ product_id: p, quantity: 1 }] });
        expect(res.statusCode).toBe(201);
        if (i % 3 !== 2) placed.push(orderOf(res).id);
      }
      const seen: string[] = [];
      let url: string | undefined = `/orders/user/${user}?limit=2`;
      let pages = 0;
      while (url) {
        const res = await inject('GET', url);
        expect(res.statusCode).toBe(200);
        const page = res.json<OrderView[]>();
        expect(page.length).toBeLessThanOrEqual(2);
        expect(page.every((o) => o.user_id === user)).toBe(true);
        seen.push(...page.map((o) => o.id));
        const link = res.headers.link as string | undefined;
        url = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
        pages += 1;
        expect(pages).toBeLessThan(10);
      }
      expect(seen).toEqual(placed);
      expect(pages).toBe(3);

      const all = await inject('GET', '/orders?limit=1000');
      expect(all.json<OrderView[]>()).toHaveLength(7);
    });

    it.each(['limit=0', 'limit=1001', 'limit=x', 'after=nope', 'page=2'])('refuses ?%s with 400', async (q) => {
      expectProblem(await inject('GET', `/orders/user/${uuidv7()}?${q}`), 400);
      expectProblem(await inject('GET', `/orders?${q}`), 400);
    });
  });

  describe('moving an order along its statuses', () => {
    /** The legal path from pending to each status. */
    const pathTo: Record<OrderStatus, OrderStatus[]> = {
      pending: [],
      confirmed: ['confirmed'],
      shipped: ['confirmed', 'shipped'],
      delivered: ['confirmed', 'shipped', 'delivered'],
      cancelled: ['cancelled'],
    };
    const legal = new Set(['pending→confirmed', 'pending→cancelled', 'confirmed→shipped', 'confirmed→cancelled', 'shipped→delivered']);
    const moves = ORDER_STATUSES.flatMap((from) =>
      ORDER_STATUSES.map((to) => ({ from, to, ok: legal.has(`${from}→${to}`) })),
    );

    async function orderIn(status: OrderStatus, quantity = 2): Promise<{ id: string; product: string }> {
      const user = mesh.addUser(uuidv7());
      const product = mesh.addProduct(uuidv7(), 1.25, 10);
      const res = await placeOrder({ user_id: user, items: [{ product_id: product, quantity }] });
      expect(res.statusCode, res.body).toBe(201);
      const { id } = orderOf(res);
      for (const step of pathTo[status]) expect((await setStatus(id, step)).statusCode).toBe(200);
      return { id, product };
    }

    it.each(moves)('$from → $to: ok=$ok', async ({ from, to, ok }) => {
      const { id, product } = await orderIn(from);
      const stockBefore = mesh.stockOf(product);
      const res = await setStatus(id, to);
      if (ok) {
        expect(res.statusCode, res.body).toBe(200);
        expect(orderOf(res)).toMatchObject({ id, status: to });
        expect(orderOf(res).updated_at).toBeGreaterThanOrEqual(orderOf(res).created_at);
      } else {
        expectProblem(res, 409, `from ${from} to ${to}`);
      }
      const stored = orderOf(await inject('GET', `/orders/${id}`));
      expect(stored.status).toBe(ok ? to : from);
      // Only a cancel gives stock back.
      expect(mesh.stockOf(product)).toBe(ok && to === 'cancelled' ? 10 : stockBefore);
    });

    it.each([['refunded'], ['PENDING'], [''], [1], [null]])('refuses status %j with 400', async (status) => {
      const { id } = await orderIn('pending');
      expectProblem(await setStatus(id, status), 400);
      expect(orderOf(await inject('GET', `/orders/${id}`)).status).toBe('pending');
    });

    it('refuses a status body with extra fields or none', async () => {
      const { id } = await orderIn('pending');
      expectProblem(await inject('PUT', `/orders/${id}/status`, { status: 'confirmed', by: 'me' }), 400);
      expectProblem(await inject('PUT', `/orders/${id}/status`, {}), 400);
      expect(orderOf(await inject('GET', `/orders/${id}`)).status).toBe('pending');
    });

    it('cancelling releases the stock exactly once; cancelling again is 409', async () => {
      const { id, product } = await orderIn('confirmed', 3);
      expect(mesh.stockOf(product)).toBe(7);
      expect((await setStatus(id, 'cancelled')).statusCode).toBe(200);
      expect(mesh.stockOf(product)).toBe(10);
      expectProblem(await setStatus(id, 'cancelled'), 409);
      expect(mesh.stockOf(product)).toBe(10);
      expect(mesh.callsTo('DELETE', product)).toHaveLength(1);
    });

    it('keeps the status when releasing fails, and a retry then succeeds', async () => {
      const { id, product } = await orderIn('pending', 4);
      mesh.failWhen((s, r) => s === 'product-service' && r.method === 'DELETE', {
        reject: new MeshError('NO_HEALTHY_INSTANCE', 'down'),
      });
      expectProblem(await setStatus(id, 'cancelled'), 503);
      expect(orderOf(await inject('GET', `/orders/${id}`)).status).toBe('pending');
      expect(mesh.stockOf(product)).toBe(6);
      mesh.clearFaults();
      expect((await setStatus(id, 'cancelled')).statusCode).toBe(200);
      expect(mesh.stockOf(product)).toBe(10);
    });

    it('retrying a cancel whose release went through but whose answer was lost is safe', async () => {
      const { id, product } = await orderIn('pending', 4);
      mesh.failWhen(
        (s, r) => s === 'product-service' && r.method === 'DELETE',
        { reject: new MeshError('UPSTREAM_TIMEOUT', 'slow'), afterApplying: true },
        1,
      );
      expectProblem(await setStatus(id, 'cancelled'), 504);
      expect(mesh.stockOf(product)).toBe(10);
      expect((await setStatus(id, 'cancelled')).statusCode).toBe(200); // the 404 "already released" is fine
      expect(mesh.stockOf(product)).toBe(10);
    });

    it('of two concurrent cancels one wins, the other is 409, and stock comes back once', async () => {
      const { id, product } = await orderIn('pending', 5);
      const [a, b] = await Promise.all([setStatus(id, 'cancelled'), setStatus(id, 'cancelled')]);
      expect([a?.statusCode, b?.statusCode].sort()).toEqual([200, 409]);
      expect(mesh.stockOf(product)).toBe(10);
      expect(mesh.reservations.size).toBe(0);
    });

    it('a cancel that loses the race to a confirm holds the stock again', async () => {
      const { id, product } = await orderIn('pending', 5);
      const gate = mesh.hold((s, r) => s === 'product-service' && r.method === 'DELETE');
      const cancelling = setStatus(id, 'cancelled');
      await gate.reached; // the cancel has read "pending" and is releasing
      expect((await setStatus(id, 'confirmed')).statusCode).toBe(200);
      gate.open();
      expectProblem(await cancelling, 409, 'concurrently');
      expect(orderOf(await inject('GET', `/orders/${id}`)).status).toBe('confirmed');
      expect(mesh.stockOf(product)).toBe(5);
      expect(mesh.reservations.get(`${product}/${id}`)).toBe(5);
    });
  });

  describe('storing an order', () => {
    it('stores the order and its items in one transaction; a failed write releases the stock', async () => {
      // A store of its own beside the harness's, so the failing trigger touches nothing else.
      const store = await service.openStore<OrdersDatabase>('orders_own', ordersMigrations);
      const own = await defineService(ordersService({ store, caller: mesh }), { port: 0, logger: false });
      try {
        const user = mesh.addUser(uuidv7());
        const p = mesh.addProduct(uuidv7(), 1, 10);
        // The orders row goes in, then its items fail: both must be rolled back.
        if (store.dialect === 'sqlite') {
          await sql`create trigger no_items before insert on order_items begin select raise(abort, 'disk full'); end`.execute(
            store.db,
          );
        } else {
          await sql`create function no_items() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$`.execute(
            store.db,
          );
          await sql`create trigger no_items before insert on order_items for each row execute function no_items()`.execute(
            store.db,
          );
        }
        const res = await own.app.inject({
          method: 'POST',
          url: '/orders',
          payload: { user_id: user, items: [{ product_id: p, quantity: 2 }] },
        });
        expectProblem(res, 500);
        expect(res.body).not.toMatch(/disk full/);
        expect(await store.db.selectFrom('orders').selectAll().execute()).toEqual([]);
        expect(mesh.stockOf(p)).toBe(10);
        expect(mesh.reservations.size).toBe(0);
      } finally {
        await own.stop();
      }
    });
  });

  describe('the running service', () => {
    it('is ready once started, and keeps its orders across a restart', async () => {
      const user = mesh.addUser(uuidv7());
      const p = mesh.addProduct(uuidv7(), 3.33, 10);
      const order = orderOf(await placeOrder({ user_id: user, items: [{ product_id: p, quantity: 3 }], total: 9.99 }));
      expect(order.total).toBe(9.99);
      await service.handle.start();
      expect((await inject('GET', '/health/ready')).statusCode).toBe(200);
      expect((await inject('GET', '/info')).json()).toMatchObject({ name: 'order-service', version: '1.0.0' });
      await service.restart();
      expect((await inject('GET', `/orders/${order.id}`)).json()).toEqual(order);
    });
  });
});
