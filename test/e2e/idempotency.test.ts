import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, pgUp } from '../support/backends.js';
import { type Reply, type Shop, startShop } from '../support/shop.js';

/**
 * `Idempotency-Key` through the whole shop: the gateway passes the header on, the orders service
 * claims the key in its own database, and a retried POST /orders replays the first answer instead
 * of placing (and reserving stock for) a second order.
 */
interface Engine {
  name: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

function sqliteEngine(): Engine {
  return { name: 'sqlite', env: {}, cleanup: async () => undefined };
}

function postgresEngine(): Engine {
  const prefix = `idem_${randomBytes(4).toString('hex')}_`;
  return {
    name: 'postgres',
    env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA_PREFIX: prefix },
    async cleanup() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        for (const service of ['users', 'products', 'orders']) {
          await client.query(`drop schema if exists ${prefix}${service} cascade`);
        }
      } finally {
        await client.end();
      }
    },
  };
}

const engines = (await pgUp()) ? [sqliteEngine(), postgresEngine()] : [sqliteEngine()];

function expectProblem(r: Reply, status: number, detail?: RegExp) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(String(r.headers['content-type'])).toContain('application/problem+json');
  expect(r.body).toMatchObject({ status, detail: detail ?? expect.any(String) });
}

describe.each(engines)('Idempotency-Key through the gateway ($name)', (engine) => {
  let shop: Shop;

  beforeAll(async () => {
    shop = await startShop({ env: engine.env });
  });
  afterAll(async () => {
    await shop?.stop(true);
    await engine.cleanup();
  });

  async function userAndProduct(stock: number) {
    const user = await shop.call('POST', '/users', { name: 'Ada', email: `ada.${randomUUID()}@example.com` });
    const product = await shop.call('POST', '/products', { name: 'Lamp', price: 25.5, stock });
    expect([user.status, product.status]).toEqual([201, 201]);
    return { userId: user.body.id as string, productId: product.body.id as string };
  }

  /** POSTs until the answer is not "still being processed": what a client honouring Retry-After does. */
  async function untilSettled(send: () => Promise<Reply>): Promise<Reply> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const r = await send();
      if (r.status !== 409) return r;
      expectProblem(r, 409, /still being processed/);
      expect(r.headers['retry-after']).toBe('1');
      await new Promise((resolve) => setTimeout(resolve, 25)); // shorter than Retry-After: a test need not wait 1 s
    }
    throw new Error('the key stayed in progress');
  }

  it('places one order, reserving stock once, for five POSTs /orders with one key', async () => {
    const { userId, productId } = await userAndProduct(10);
    const key = randomUUID();
    const order = { user_id: userId, items: [{ product_id: productId, quantity: 3 }], total: 76.5 };
    const placeOrder = () => shop.call('POST', '/orders', order, { 'idempotency-key': key });

    // Two at once: one runs; the other is replayed or, while the first runs, told to retry.
    const concurrent = await Promise.all([placeOrder(), placeOrder()]);
    for (const r of concurrent) expect([201, 409], JSON.stringify(r.body)).toContain(r.status);
    const answers = await Promise.all(concurrent.map((r) => (r.status === 409 ? untilSettled(placeOrder) : r)));
    for (let i = 0; i < 3; i++) answers.push(await placeOrder());

    expect(answers).toHaveLength(5);
    for (const r of answers) {
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ user_id: userId, total: 76.5, status: 'pending' });
      expect(String(r.headers['content-type'])).toContain('application/json');
    }
    const ids = new Set(answers.map((r) => r.body.id as string));
    expect(ids.size).toBe(1);
    // Exactly one answer is the original; the four others say they are replays.
    expect(answers.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(4);
    expect(answers.slice(2).every((r) => r.headers['idempotent-replayed'] === 'true')).toBe(true);

    const orders = await shop.call('GET', `/orders/user/${userId}`);
    expect(orders.status).toBe(200);
    expect(orders.body.map((o: { id: string }) => o.id)).toEqual([...ids]);
    expect((await shop.call('GET', `/products/${productId}`)).body.stock).toBe(7);
  });

  it('refuses the key for another body (422) and a key of 256 characters (400), placing nothing', async () => {
    const { userId, productId } = await userAndProduct(10);
    const key = randomUUID();
    const order = (quantity: number) => ({ user_id: userId, items: [{ product_id: productId, quantity }] });
    const first = await shop.call('POST', '/orders', order(1), { 'idempotency-key': key });
    expect(first.status).toBe(201);

    expectProblem(
      await shop.call('POST', '/orders', order(2), { 'idempotency-key': key }),
      422,
      /different request/,
    );
    expectProblem(await shop.call('POST', '/orders', order(2), { 'idempotency-key': 'k'.repeat(256) }), 400, /Idempotency-Key/);

    const orders = await shop.call('GET', `/orders/user/${userId}`);
    expect(orders.body.map((o: { id: string }) => o.id)).toEqual([first.body.id]);
    expect((await shop.call('GET', `/products/${productId}`)).body.stock).toBe(9);
  });

  it('replays a key per service: POST /users with one key creates one user', async () => {
    const key = randomUUID();
    const user = { name: 'Grace', email: `grace.${randomUUID()}@example.com` };
    const first = await shop.call('POST', '/users', user, { 'idempotency-key': key });
    const again = await shop.call('POST', '/users', user, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201); // without the key, the same email would be a 409
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });
});
