import { uuidv7 } from '@meshkit/toolkit';
import { describe, expect, it } from 'vitest';
import { engines, type Sent, useServiceHarness } from '../../../test/support/service-harness.js';
import { createProductsApp } from './main.js';

const unknownId = '0190a000-0000-7000-8000-000000000099';

describe.each(engines)('reservations on %s', (engine) => {
  const service = useServiceHarness({ name: 'reservations', engine, open: createProductsApp, startAt: 1_700_000_000_000 });
  const { send } = service;

  /** Status and media type only (the shared `expectProblem` also wants title and detail). */
  function expectProblem(res: Sent, status: number) {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status });
  }

  async function product(stock: number, price = 999.99): Promise<string> {
    return (await service.create('/products', { name: 'Laptop', price, stock })).id as string;
  }

  async function stockOf(productId: string): Promise<number> {
    return (await send('GET', `/products/${productId}`)).body?.stock as number;
  }

  const at = (productId: string, orderId: string) => `/internal/products/${productId}/reservations/${orderId}`;
  const reserve = (productId: string, orderId: string, quantity: unknown) =>
    send('PUT', at(productId, orderId), { quantity });
  const release = (productId: string, orderId: string) => send('DELETE', at(productId, orderId));

  describe('reserving stock', () => {
    it('reserves: 201 with the unit price, and the stock goes down', async () => {
      const p = await product(10);
      const order = uuidv7();
      const res = await reserve(p, order, 3);
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ order_id: order, product_id: p, quantity: 3, unit_price: 999.99 });
      expect(await stockOf(p)).toBe(7);
    });

    it('answers a retry with the same reservation (200) and takes the stock once', async () => {
      const p = await product(10);
      const order = uuidv7();
      const first = await reserve(p, order, 3);
      const again = await reserve(p, order, 3);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      expect(await stockOf(p)).toBe(7);
    });

    it('takes the stock once under concurrent retries of one reservation', async () => {
      const p = await product(10);
      const order = uuidv7();
      const results = await Promise.all(Array.from({ length: 20 }, () => reserve(p, order, 2)));
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 200)).toHaveLength(19);
      expect(await stockOf(p)).toBe(8);
    });

    it('refuses a different quantity for the same order (409) without touching stock', async () => {
      const p = await product(10);
      const order = uuidv7();
      await reserve(p, order, 3);
      expectProblem(await reserve(p, order, 4), 409);
      expect(await stockOf(p)).toBe(7);
    });

    it('refuses more than the stock (409) and writes nothing', async () => {
      const p = await product(2);
      const order = uuidv7();
      const res = await reserve(p, order, 3);
      expectProblem(res, 409);
      expect(res.body?.detail).toMatch(/insufficient stock/);
      expect(await stockOf(p)).toBe(2);
      // no reservation row was left behind: the same order may try again once stock is there
      expectProblem(await release(p, order), 404);
      await send('PUT', `/products/${p}/stock`, { stock: 5 });
      expect((await reserve(p, uuidv7(), 3)).status).toBe(201);
      expect(await stockOf(p)).toBe(2);
    });

    it('lets exactly 10 of 50 concurrent one-unit reservations through a stock of 10', async () => {
      const p = await product(10);
      // A reader samples the stock while the reservations race: it never sees it below 0.
      const sampled: number[] = [];
      let racing = true;
      const sampler = (async () => {
        while (racing) {
          sampled.push(await stockOf(p));
          await new Promise((r) => setImmediate(r)); // let the reservations' I/O run between samples
        }
      })();
      const results = await Promise.all(Array.from({ length: 50 }, () => reserve(p, uuidv7(), 1))).finally(() => {
        racing = false;
      });
      await sampler;
      expect(sampled.length).toBeGreaterThan(0);
      expect(sampled.every((n) => n >= 0 && n <= 10)).toBe(true);
      expect(results.filter((r) => r.status === 201)).toHaveLength(10);
      const refused = results.filter((r) => r.status !== 201);
      expect(refused).toHaveLength(40);
      for (const r of refused) expectProblem(r, 409);
      expect(await stockOf(p)).toBe(0);
    });

    it('never oversells under concurrent mixed quantities', async () => {
      const p = await product(25);
      const quantities = Array.from({ length: 30 }, (_, i) => (i % 4) + 1);
      const results = await Promise.all(quantities.map((q) => reserve(p, uuidv7(), q)));
      const taken = results.reduce((sum, r, i) => sum + (r.status === 201 ? (quantities[i] ?? 0) : 0), 0);
      expect(taken).toBeLessThanOrEqual(25);
      expect(await stockOf(p)).toBe(25 - taken);
      expect(await stockOf(p)).toBeGreaterThanOrEqual(0);
    });

    it('is 404 for an unknown product and for malformed ids', async () => {
      const p = await product(10);
      expectProblem(await reserve(unknownId, uuidv7(), 1), 404);
      expectProblem(await reserve('laptop', uuidv7(), 1), 404);
      expectProblem(await reserve(p, 'order-1', 1), 404);
      expect(await stockOf(p)).toBe(10);
    });

    it.each([0, -1, 10_001, 1.5, '1', null])('refuses the quantity %j with a 400 problem', async (quantity) => {
      const p = await product(10);
      const order = uuidv7();
      expectProblem(await reserve(p, order, quantity), 400);
      expect(await stockOf(p)).toBe(10);
      expectProblem(await release(p, order), 404);
    });

    it('refuses unknown body fields', async () => {
      const p = await product(10);
      expectProblem(await send('PUT', at(p, uuidv7()), { quantity: 1, unit_price: 0 }), 400);
      expect(await stockOf(p)).toBe(10);
    });

    it('accepts the largest quantity', async () => {
      const p = await product(10_000);
      expect((await reserve(p, uuidv7(), 10_000)).status).toBe(201);
      expect(await stockOf(p)).toBe(0);
    });
  });

  describe('releasing stock', () => {
    it('gives the stock back exactly once, however often it is released', async () => {
      const p = await product(10);
      const order = uuidv7();
      await reserve(p, order, 3);
      const first = await release(p, order);
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ order_id: order, product_id: p, quantity: 3, status: 'released' });
      expect(await stockOf(p)).toBe(10);
      const again = await release(p, order);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      expect(await stockOf(p)).toBe(10);
    });

    it('gives the stock back once under concurrent releases', async () => {
      const p = await product(10);
      const order = uuidv7();
      await reserve(p, order, 4);
      const results = await Promise.all(Array.from({ length: 10 }, () => release(p, order)));
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(await stockOf(p)).toBe(10);
    });

    it('refuses to reserve again for an order that released', async () => {
      const p = await product(10);
      const order = uuidv7();
      await reserve(p, order, 3);
      await release(p, order);
      expectProblem(await reserve(p, order, 3), 409);
      expect(await stockOf(p)).toBe(10);
    });

    it('is 404 for a reservation that never existed, and a late reservation is then refused', async () => {
      const p = await product(10);
      const order = uuidv7();
      expectProblem(await release(p, order), 404);
      expectProblem(await release(p, order), 404);
      // the reservation that timed out on the caller's side arrives after its release: it must not hold stock
      expectProblem(await reserve(p, order, 2), 409);
      expect(await stockOf(p)).toBe(10);
    });

    it('is 404 for an unknown product or malformed ids', async () => {
      expectProblem(await release(unknownId, uuidv7()), 404);
      expectProblem(await release('x', uuidv7()), 404);
      const p = await product(1);
      expectProblem(await release(p, 'y'), 404);
    });

    it('keeps only its own order’s stock: releasing one order leaves the others held', async () => {
      const p = await product(10);
      const a = uuidv7();
      const b = uuidv7();
      await reserve(p, a, 2);
      await reserve(p, b, 5);
      await release(p, a);
      expect(await stockOf(p)).toBe(5);
    });
  });

  describe('restart', () => {
    it('remembers reservations: a retry after reopening takes no more stock, a release gives it back once', async () => {
      const p = await product(10);
      const order = uuidv7();
      await reserve(p, order, 3);
      await service.restart();
      expect(await stockOf(p)).toBe(7);
      expect((await reserve(p, order, 3)).status).toBe(200);
      expect(await stockOf(p)).toBe(7);
      expect((await release(p, order)).status).toBe(200);
      expect((await release(p, order)).status).toBe(200);
      expect(await stockOf(p)).toBe(10);
    });
  });
});
