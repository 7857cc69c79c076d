import { charLength, fromCents, nonBlankTextProblem, toCents } from '@meshkit/toolkit';
import { InvalidProductInput } from './errors.js';

/** A product as the domain sees it: money in integer cents, times in epoch seconds. */
export interface Product {
  id: string;
  name: string;
  description: string;
  priceCents: number;
  stock: number;
  createdAt: number;
  updatedAt: number;
}

export interface NewProduct {
  name: string;
  /** Currency units, at most 2 decimals. */
  price: number;
  description?: string;
  stock?: number;
}

export const NAME_MAX_LENGTH = 200;
export const DESCRIPTION_MAX_LENGTH = 2000;
export const PRICE_MAX = 1_000_000_000;
export const STOCK_MAX = 1_000_000_000;

export function checkName(name: string): string {
  const problem = nonBlankTextProblem('name', name, NAME_MAX_LENGTH);
  if (problem !== undefined) throw new InvalidProductInput(problem);
  return name;
}

export function checkDescription(description: string): string {
  if (charLength(description) > DESCRIPTION_MAX_LENGTH) {
    throw new InvalidProductInput(`description must have at most ${DESCRIPTION_MAX_LENGTH} characters`);
  }
  return description;
}

/** Integer cents for a wire price: 0–10⁹ with at most 2 decimals. */
export function priceCents(price: number): number {
  const cents = toCents(price);
  if (cents === undefined || cents < 0 || cents > PRICE_MAX * 100) {
    throw new InvalidProductInput(`price must be a number from 0 to ${PRICE_MAX} with at most 2 decimals`);
  }
  return cents;
}

export function checkStock(stock: number): number {
  if (!Number.isSafeInteger(stock) || stock < 0 || stock > STOCK_MAX) {
    throw new InvalidProductInput(`stock must be an integer from 0 to ${STOCK_MAX}`);
  }
  return stock;
}

/** The wire price of a product (currency units). */
export function priceOf(product: Pick<Product, 'priceCents'>): number {
  return fromCents(product.priceCents);
}

export function createProduct(input: NewProduct, id: string, nowSeconds: number): Product {
  return {
    id,
    name: checkName(input.name),
    description: checkDescription(input.description ?? ''),
    priceCents: priceCents(input.price),
    stock: checkStock(input.stock ?? 0),
    createdAt: nowSeconds,
    updatedAt: nowSeconds,
  };
}
