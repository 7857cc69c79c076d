import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Reply, type Shop, startShop } from '../support/shop.js';

/**
 * The whole shop through the gateway, as a user sees it: the seed's flow, concurrency on stock,
 * all-or-nothing orders, and every bad input answered 4xx problem+json with nothing stored.
 */
let shop: Shop;
let n = 0;
const email = () => `buyer${++n}.${randomUUID().slice(0, 8)}@example.com`;

beforeAll(async () => {
  shop = await startShop();
});
afterAll(async () => {
  await shop?.stop(true);
});

function expectProblem(r: Reply, status: number) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(String(r.headers['content-type'])).toContain('application/problem+json');
  expect(r.body).toMatchObject({ status, title: expect.any(String), type: expect.any(String) });
  expect(r.headers['x-request-id']).toBeTruthy();
}

async function newUser() {
  const r = await shop.call('POST', '/users', { name: 'John Doe', email: email() });
  expect(r.status).toBe(201);
  return r.body as { id: string };
}
async function newProduct(price: number, stock: number) {
  const r = await shop.call('POST', '/products', { name: 'Laptop', price, stock });
  expect(r.status).toBe(201);
  return r.body as { id: string };
}
async function stockOf(id: string) {
  return (await shop.call('GET', `/products/${id}`)).body.stock as number;
}
async function count(path: string) {
  let total = 0;
  let next: string | undefined = `${path}?limit=1000`;
  while (next) {
    const r = await shop.call('GET', next);
    expect(r.status).toBe(200);
    total += (r.body as unknown[]).length;
    const link = String(r.headers.link ?? '');
    next = /<([^>]+)>; rel="next"/.exec(link)?.[1];
  }
  return total;
}

describe("the seed's flow through the gateway", () => {
  it('answers GET / as the seed does', async () => {
    const r = await shop.call('GET', '/');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ message: 'API Gateway', status: 'running' });
  });

  it('creates a user, a product and an order, and lists the user’s orders', async () => {
    const user = await shop.call('POST', '/users', { name: 'John Doe', email: 'john@example.com' });
    expect(user.status).toBe(201);
    expect(user.body).toMatchObject({ name: 'John Doe', email: 'john@example.com', id: expect.any(String) });

    const product = await shop.call('POST', '/products', { name: 'Laptop', price: 999.99, stock: 10 });
    expect(product.status).toBe(201);
    expect(product.body).toMatchObject({ name: 'Laptop', price: 999.99, stock: 10, description: '' });

    const order = await shop.call('POST', '/orders', {
      user_id: user.body.id,
      items: [{ product_id: product.body.id, quantity: 1 }],
      total: 999.99,
    });
    expect(order.status).toBe(201);
    expect(order.body).toMatchObject({ user_id: user.body.id, total: 999.99, status: 'pending' });

    const orders = await shop.call('GET', `/orders/user/${user.body.id}`);
    expect(orders.status).toBe(200);
    expect(orders.body).toHaveLength(1);
    expect(orders.body[0].id).toBe(order.body.id);
    expect(await stockOf(product.body.id)).toBe(9);

    const fetched = await shop.call('GET', `/users/${user.body.id}`);
    expect(fetched.body).toEqual(user.body);
  });

  it('echoes a client x-request-id and makes one up otherwise', async () => {
    const mine = await shop.call('GET', '/products', undefined, { 'x-request-id': 'req-12345' });
    expect(mine.headers['x-request-id']).toBe('req-12345');
    const made = await shop.call('GET', '/products');
    expect(made.headers['x-request-id']).toMatch(/\S{8,}/);
  });
});

describe('stock under concurrency', () => {
  it('sells exactly 10 units to 50 concurrent buyers', async () => {
    const product = await newProduct(5, 10);
    const buyers = await Promise.all(Array.from({ length: 5 }, newUser));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        shop.call('POST', '/orders', {
          user_id: buyers[i % buyers.length]?.id,
          items: [{ product_id: product.id, quantity: 1 }],
        }),
      ),
    );
    const codes = results.map((r) => r.status);
    expect(codes.filter((c) => c === 201)).toHaveLength(10);
    expect(codes.filter((c) => c === 409)).toHaveLength(40);
    expect(await stockOf(product.id)).toBe(0);
  });

  it('reserves all items or none', async () => {
    const user = await newUser();
    const plenty = await newProduct(1, 5);
    const scarce = await newProduct(2, 1);
    const r = await shop.call('POST', '/orders', {
      user_id: user.id,
      items: [
        { product_id: plenty.id, quantity: 2 },
        { product_id: scarce.id, quantity: 2 },
      ],
    });
    expectProblem(r, 409);
    expect(await stockOf(plenty.id)).toBe(5);
    expect(await stockOf(scarce.id)).toBe(1);
    expect((await shop.call('GET', `/orders/user/${user.id}`)).body).toEqual([]);
  });

  it('computes totals exactly and refuses a client total that disagrees', async () => {
    const user = await newUser();
    const dime = await newProduct(0.1, 10);
    const twenty = await newProduct(0.2, 10);
    const items = [
      { product_id: dime.id, quantity: 3 },
      { product_id: twenty.id, quantity: 1 },
    ];
    const ok = await shop.call('POST', '/orders', { user_id: user.id, items, total: 0.5 });
    expect(ok.status).toBe(201);
    expect(ok.body.total).toBe(0.5);
    const wrong = await shop.call('POST', '/orders', { user_id: user.id, items, total: 0.49 });
    expectProblem(wrong, 422);
    expect(await stockOf(dime.id)).toBe(7);
    expect(await stockOf(twenty.id)).toBe(9);
  });

  it('moves an order along its status machine and releases stock on cancel', async () => {
    const user = await newUser();
    const p = await newProduct(3, 4);
    const order = (
      await shop.call('POST', '/orders', { user_id: user.id, items: [{ product_id: p.id, quantity: 3 }] })
    ).body;
    expect(await stockOf(p.id)).toBe(1);
    expectProblem(await shop.call('PUT', `/orders/${order.id}/status`, { status: 'shipped' }), 409);
    expect((await shop.call('PUT', `/orders/${order.id}/status`, { status: 'confirmed' })).status).toBe(200);
    expect((await shop.call('PUT', `/orders/${order.id}/status`, { status: 'cancelled' })).body.status).toBe(
      'cancelled',
    );
    expect(await stockOf(p.id)).toBe(4);
    expectProblem(await shop.call('PUT', `/orders/${order.id}/status`, { status: 'cancelled' }), 409);
    expect(await stockOf(p.id)).toBe(4);
  });
});

describe('bad input: 4xx problem+json, nothing stored', () => {
  let user: { id: string };
  let product: { id: string };
  beforeAll(async () => {
    user = await newUser();
    product = await newProduct(10, 100);
  });

  const long = (k: number) => 'x'.repeat(k);
  const cases: [string, string, string, () => unknown, number, string?][] = [
    ['user without fields', 'POST', '/users', () => ({}), 400],
    ['user with empty name', 'POST', '/users', () => ({ name: '', email: email() }), 400],
    ['user with a 201-char name', 'POST', '/users', () => ({ name: long(201), email: email() }), 400],
    ['user with a bad email', 'POST', '/users', () => ({ name: 'A', email: 'not-an-email' }), 400],
    ['user with a 255-char email', 'POST', '/users', () => ({ name: 'A', email: `${long(243)}@example.com` }), 400],
    ['user with a numeric name', 'POST', '/users', () => ({ name: 12, email: email() }), 400],
    ['user with an unknown field', 'POST', '/users', () => ({ name: 'A', email: email(), admin: true }), 400],
    ['user as malformed JSON', 'POST', '/users', () => '{"name": ', 400, 'application/json'],
    ['user as text/plain', 'POST', '/users', () => 'name=A', 415, 'text/plain'],
    ['product with a string price', 'POST', '/products', () => ({ name: 'P', price: '12' }), 400],
    ['product with a negative price', 'POST', '/products', () => ({ name: 'P', price: -1 }), 400],
    ['product over 10^9', 'POST', '/products', () => ({ name: 'P', price: 1_000_000_001 }), 400],
    ['product with 3 decimals', 'POST', '/products', () => ({ name: 'P', price: 1.001 }), 400],
    ['product with fractional stock', 'POST', '/products', () => ({ name: 'P', price: 1, stock: 1.5 }), 400],
    ['product with negative stock', 'POST', '/products', () => ({ name: 'P', price: 1, stock: -1 }), 400],
    ['product with a long description', 'POST', '/products', () => ({ name: 'P', price: 1, description: long(2001) }), 400],
    ['product without a name', 'POST', '/products', () => ({ price: 1 }), 400],
    ['order without items', 'POST', '/orders', () => ({ user_id: user.id, items: [] }), 400],
    [
      'order with 101 items',
      'POST',
      '/orders',
      () => ({ user_id: user.id, items: Array.from({ length: 101 }, () => ({ product_id: product.id, quantity: 1 })) }),
      400,
    ],
    ['order with quantity 0', 'POST', '/orders', () => ({ user_id: user.id, items: [{ product_id: product.id, quantity: 0 }] }), 400],
    ['order with quantity 10001', 'POST', '/orders', () => ({ user_id: user.id, items: [{ product_id: product.id, quantity: 10_001 }] }), 400],
    ['order with a string quantity', 'POST', '/orders', () => ({ user_id: user.id, items: [{ product_id: product.id, quantity: '1' }] }), 400],
    ['order with a bad user id', 'POST', '/orders', () => ({ user_id: 'u1', items: [{ product_id: product.id, quantity: 1 }] }), 400],
    ['order with a string total', 'POST', '/orders', () => ({ user_id: user.id, items: [{ product_id: product.id, quantity: 1 }], total: '10' }), 400],
    ['order for an unknown user', 'POST', '/orders', () => ({ user_id: randomUUID(), items: [{ product_id: product.id, quantity: 1 }] }), 422],
    ['order for an unknown product', 'POST', '/orders', () => ({ user_id: user.id, items: [{ product_id: randomUUID(), quantity: 1 }] }), 422],
    ['order with a wrong total', 'POST', '/orders', () => ({ user_id: user.id, items: [{ product_id: product.id, quantity: 1 }], total: 9.99 }), 422],
    ['order with an unknown field', 'POST', '/orders', () => ({ user_id: user.id, items: [{ product_id: product.id, quantity: 1 }], status: 'delivered' }), 400],
  ];

  it.each(cases)('%s', async (_name, method, path, body, status, contentType) => {
    const before = { users: await count('/users'), products: await count('/products'), orders: await count('/orders') };
    const payload = body();
    const r = await shop.call(method, path, payload, contentType ? { 'content-type': contentType } : {});
    expectProblem(r, status);
    expect({ users: await count('/users'), products: await count('/products'), orders: await count('/orders') }).toEqual(
      before,
    );
    expect(await stockOf(product.id)).toBe(100);
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const r = await shop.call('POST', '/users', { name: 'A', email: email(), pad: long(1024 * 1024) });
    expectProblem(r, 413);
  });

  it('refuses an email that differs only in case with 409', async () => {
    const address = email();
    expect((await shop.call('POST', '/users', { name: 'A', email: address })).status).toBe(201);
    expectProblem(await shop.call('POST', '/users', { name: 'B', email: address.toUpperCase() }), 409);
  });

  it('updates only the fields the schema allows', async () => {
    expectProblem(await shop.call('PUT', `/users/${user.id}`, {}), 400);
    expectProblem(await shop.call('PUT', `/users/${user.id}`, { id: randomUUID() }), 400);
    expectProblem(await shop.call('PUT', `/users/${user.id}`, { created_at: 0 }), 400);
    const r = await shop.call('PUT', `/users/${user.id}`, { name: 'Jane' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: user.id, name: 'Jane' });
  });

  it('answers 404 for unknown ids, ids that are not UUIDs and unknown paths', async () => {
    for (const path of [
      `/users/${randomUUID()}`,
      '/users/not-a-uuid',
      `/products/${randomUUID()}`,
      '/products/42',
      `/orders/${randomUUID()}`,
      '/orders/user/not-a-uuid',
      '/nothing-here',
      '/internal/products',
    ]) {
      expectProblem(await shop.call('GET', path), 404);
    }
    expectProblem(await shop.call('PUT', `/products/${randomUUID()}/stock`, { stock: 1 }), 404);
    expectProblem(await shop.call('DELETE', `/users/${randomUUID()}`), 404);
  });

  it('refuses bad stock updates, status values and paging parameters with 400', async () => {
    expectProblem(await shop.call('PUT', `/products/${product.id}/stock`, { stock: '5' }), 400);
    expectProblem(await shop.call('PUT', `/products/${product.id}/stock`, { stock: -1 }), 400);
    const order = (
      await shop.call('POST', '/orders', { user_id: user.id, items: [{ product_id: product.id, quantity: 1 }] })
    ).body;
    expectProblem(await shop.call('PUT', `/orders/${order.id}/status`, { status: 'bogus' }), 400);
    expectProblem(await shop.call('GET', '/users?limit=0'), 400);
    expectProblem(await shop.call('GET', '/users?limit=abc'), 400);
    expectProblem(await shop.call('GET', '/users?after=zzz'), 400);
    await shop.call('PUT', `/orders/${order.id}/status`, { status: 'cancelled' });
  });
});

describe('lists', () => {
  it('pages with limit and after, with a Link to the next page, visiting every row once', async () => {
    const made = new Set<string>();
    for (let i = 0; i < 7; i++) made.add((await newUser()).id);
    const seen: string[] = [];
    let next: string | undefined = '/users?limit=3';
    while (next) {
      const r = await shop.call('GET', next);
      expect(r.status).toBe(200);
      expect(Array.isArray(r.body)).toBe(true);
      expect((r.body as unknown[]).length).toBeLessThanOrEqual(3);
      seen.push(...(r.body as { id: string }[]).map((u) => u.id));
      next = /<([^>]+)>; rel="next"/.exec(String(r.headers.link ?? ''))?.[1];
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of made) expect(seen).toContain(id);
  });
});
