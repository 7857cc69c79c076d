import { DomainError } from '@meshkit/toolkit';

/**
 * What can go wrong in the products domain: DomainErrors with a `kind`, which the HTTP edge
 * (routes.ts) turns into MeshErrors.
 */
export abstract class ProductDomainError extends DomainError {}

/** Input that breaks a rule (a price with three decimals, a negative stock). */
export class InvalidProductInput extends ProductDomainError {
  readonly kind = 'invalid';
  override readonly name = 'InvalidProductInput';
}

export class ProductNotFound extends ProductDomainError {
  readonly kind = 'not_found';
  override readonly name = 'ProductNotFound';
  constructor(readonly id: string) {
    super(`product ${id} not found`);
  }
}

export class InsufficientStock extends ProductDomainError {
  readonly kind = 'conflict';
  override readonly name = 'InsufficientStock';
  constructor(
    readonly productId: string,
    readonly requested: number,
  ) {
    super(`insufficient stock: product ${productId} cannot supply ${requested}`);
  }
}

/** The order already holds a different reservation of this product, or released it. */
export class ReservationConflict extends ProductDomainError {
  readonly kind = 'conflict';
  override readonly name = 'ReservationConflict';
}

export class ReservationNotFound extends ProductDomainError {
  readonly kind = 'not_found';
  override readonly name = 'ReservationNotFound';
  constructor(
    readonly orderId: string,
    readonly productId: string,
  ) {
    super(`order ${orderId} holds no reservation of product ${productId}`);
  }
}
