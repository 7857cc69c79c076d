import { DomainError } from '@meshkit/toolkit';

/**
 * The orders domain's own errors. They say what went wrong in business terms; the HTTP edge
 * (http-errors.ts) turns each into a MeshError by its `kind`. Upstream/network failures are not
 * domain errors: they stay MeshErrors and pass through untouched.
 */
export abstract class OrderError extends DomainError {}

/** The request breaks a value rule (ids, quantities, item counts, money format). */
export class InvalidOrder extends OrderError {
  readonly kind = 'invalid';
  override readonly name = 'InvalidOrder';
}

export class OrderNotFound extends OrderError {
  readonly kind = 'not_found';
  override readonly name = 'OrderNotFound';
  constructor(readonly orderId: string) {
    super(`order ${orderId} not found`);
  }
}

/** The status machine does not allow `from → to` (including `x → x`). */
export class IllegalStatusMove extends OrderError {
  readonly kind = 'conflict';
  override readonly name = 'IllegalStatusMove';
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`cannot move an order from ${from} to ${to}`);
  }
}

/** Someone else changed the order between our read and our conditional write. */
export class ConcurrentStatusChange extends OrderError {
  readonly kind = 'conflict';
  override readonly name = 'ConcurrentStatusChange';
  constructor(readonly orderId: string) {
    super(`order ${orderId} was changed concurrently; read it again`);
  }
}

export class InsufficientStock extends OrderError {
  readonly kind = 'conflict';
  override readonly name = 'InsufficientStock';
  constructor(readonly productId: string) {
    super(`insufficient stock for ${productId}`);
  }
}

export class UnknownUser extends OrderError {
  readonly kind = 'unprocessable';
  override readonly name = 'UnknownUser';
  constructor(readonly userId: string) {
    super('unknown user');
  }
}

export class UnknownProduct extends OrderError {
  readonly kind = 'unprocessable';
  override readonly name = 'UnknownProduct';
  constructor(readonly productId: string) {
    super(`unknown product ${productId}`);
  }
}

export class TotalMismatch extends OrderError {
  readonly kind = 'unprocessable';
  override readonly name = 'TotalMismatch';
  constructor(
    readonly clientCents: number,
    readonly serverCents: number,
  ) {
    super('total does not match');
  }
}

/** The exact total would not fit a JSON number with cent precision. */
export class TotalTooLarge extends OrderError {
  readonly kind = 'unprocessable';
  override readonly name = 'TotalTooLarge';
  constructor() {
    super('order total is too large');
  }
}

export function isOrderError(e: unknown): e is OrderError {
  return e instanceof OrderError;
}
