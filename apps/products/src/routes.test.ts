import { isUuid } from '@meshkit/toolkit';
import { describe, expect, it } from 'vitest';
import { engines, expectProblem, type Json, useServiceHarness } from '../../../test/support/service-harness.js';
import { createProductsApp } from './main.js';

const laptop = { name: 'Laptop', price: 999.99, stock: 10 };
const unknownId = '0190a000-0000-7000-8000-000000000099';

describe.each(engines)('products on %s', (engine) => {
  const service = useServiceHarness({ name: 'products', engine, open: createProductsApp, startAt: 1_700_000_000_000 });
  const { send, inject } = service;

  const createProduct = (body: Json = laptop): Promise<Json> => service.create('/products', body);

  /** Every product, following the Link headers from the first page. */
  const allProducts = (limit = 1000): Promise<Json[]> => service.allPages(`/products?limit=${limit}`);

  describe('POST /products', () => {
    it('creates the seed laptop: 201, price exact, description defaulted', async () => {
      const res = await send('POST', '/products', laptop);
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.any(String),
        name: 'Laptop',
        price: 999.99,
        description: '',
        stock: 10,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
      });
      expect(isUuid(res.body?.id as string)).toBe(true);
      expect(res.raw.body).toContain('"price":999.99');
      expect((await send('GET', `/products/${res.body?.id}`)).body).toEqual(res.body);
    });

    it('defaults stock to 0 and keeps prices exact at the edges', async () => {
      const cheap = await createProduct({ name: 'Gum', price: 0.1, description: 'mint' });
      expect(cheap).toMatchObject({ price: 0.1, stock: 0, description: 'mint' });
      expect((await createProduct({ name: 'Free', price: 0 })).price).toBe(0);
      expect((await createProduct({ name: 'Max', price: 1_000_000_000, stock: 1_000_000_000 })).price).toBe(1e9);
      expect((await createProduct({ name: 'Sum', price: 0.1 + 0.2 })).price).toBe(0.3);
      expect((await createProduct({ name: 'd', price: 1, description: 'd'.repeat(2000) })).description).toHaveLength(2000);
    });

    const bad: [string, unknown][] = [
      ['no name', { price: 1 }],
      ['no price', { name: 'Laptop' }],
      ['an empty name', { name: '', price: 1 }],
      ['a whitespace-only name', { name: '  ', price: 1 }],
      ['a 201-character name', { name: 'x'.repeat(201), price: 1 }],
      ['a string price', { name: 'Laptop', price: '12' }],
      ['a null price', { name: 'Laptop', price: null }],
      ['a negative price', { name: 'Laptop', price: -0.01 }],
      ['a price over 10^9', { name: 'Laptop', price: 1_000_000_000.01 }],
      ['a price with 3 decimals', { name: 'Laptop', price: 9.999 }],
      ['a string stock', { ...laptop, stock: '10' }],
      ['a fractional stock', { ...laptop, stock: 1.5 }],
      ['a negative stock', { ...laptop, stock: -1 }],
      ['a stock over 10^9', { ...laptop, stock: 1_000_000_001 }],
      ['a 2001-character description', { ...laptop, description: 'd'.repeat(2001) }],
      ['a number description', { ...laptop, description: 5 }],
      ['an unknown field', { ...laptop, color: 'grey' }],
      ['a client-chosen id', { ...laptop, id: unknownId }],
      ['an array body', [laptop]],
    ];
    it.each(bad)('refuses %s with a 400 problem and stores nothing', async (_what, body) => {
      expectProblem(await send('POST', '/products', body), 400);
      expect(await allProducts()).toEqual([]);
    });
  });

  describe('GET /products', () => {
    it('is 404 for unknown and malformed ids', async () => {
      expectProblem(await send('GET', `/products/${unknownId}`), 404);
      expectProblem(await send('GET', '/products/laptop'), 404);
    });

    it('visits every product exactly once across pages with a correct Link', async () => {
      const created: Json[] = [];
      for (let i = 0; i < 17; i++) created.push(await createProduct({ name: `P${i}`, price: i }));
      const first = await inject({ method: 'GET', url: '/products?limit=4' });
      const page = first.json() as Json[];
      expect(page).toHaveLength(4);
      expect(first.headers.link).toBe(`</products?limit=4&after=${page[3]?.id}>; rel="next"`);
      const walked = await allProducts(4);
      expect(walked.map((p) => p.id)).toEqual(created.map((p) => p.id).sort());
      expect(new Set(walked.map((p) => p.id)).size).toBe(17);
      expect(walked).toEqual(expect.arrayContaining(created));
    });

    it.each(['limit=0', 'limit=1001', 'limit=x', 'after=1'])('refuses ?%s with a 400 problem', async (q) => {
      expectProblem(await send('GET', `/products?${q}`), 400);
    });
  });

  describe('PUT /products/{id}/stock', () => {
    it('sets the stock and moves updated_at', async () => {
      const product = await createProduct();
      service.clock.advance(2000);
      const res = await send('PUT', `/products/${product.id}/stock`, { stock: 3 });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ...product, stock: 3, updated_at: 1_700_000_002 });
      expect((await send('GET', `/products/${product.id}`)).body).toEqual(res.body);
    });

    const bad: [string, unknown][] = [
      ['an empty body', {}],
      ['a string stock', { stock: '5' }],
      ['a negative stock', { stock: -1 }],
      ['a fractional stock', { stock: 2.5 }],
      ['a stock over 10^9', { stock: 1_000_000_001 }],
      ['another field beside stock', { stock: 5, price: 1 }],
    ];
    it.each(bad)('refuses %s with a 400 problem and changes nothing', async (_what, body) => {
      const product = await createProduct();
      expectProblem(await send('PUT', `/products/${product.id}/stock`, body), 400);
      expect(await allProducts()).toEqual([product]);
    });

    it('is 404 for unknown and malformed ids', async () => {
      expectProblem(await send('PUT', `/products/${unknownId}/stock`, { stock: 1 }), 404);
      expectProblem(await send('PUT', '/products/x/stock', { stock: 1 }), 404);
    });
  });

  describe('restart', () => {
    it('keeps products across close and reopen of the same data dir', async () => {
      const product = await createProduct();
      await service.restart();
      expect((await send('GET', `/products/${product.id}`)).body).toEqual(product);
    });
  });
});
