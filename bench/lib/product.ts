// The one tiny JSON every contender answers: a product as the products service returns it.

export const BENCH_PRODUCT_ID = '0190a6e0-5c2e-7b1a-8f00-00000000be0c';

export const benchProduct = {
  id: BENCH_PRODUCT_ID,
  name: 'Laptop',
  price: 999.99,
  description: 'a tiny JSON answer for the benchmark',
  stock: 10,
  created_at: 1_720_000_000,
  updated_at: 1_720_000_000,
} as const;

/** The path every load generator requests, through every contender. */
export const BENCH_PATH = `/products/${BENCH_PRODUCT_ID}`;
