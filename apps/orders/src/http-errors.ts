import { type ErrorCode, MeshError } from '@meshkit/toolkit';
import { isOrderError, type OrderErrorKind } from './domain/errors.js';

const CODE_OF: Record<OrderErrorKind, ErrorCode> = {
  invalid: 'VALIDATION_FAILED',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  unprocessable: 'UNPROCESSABLE',
};

/** The edge's one translation: a domain error becomes its HTTP problem; anything else passes. */
export function toHttpError(e: unknown): unknown {
  return isOrderError(e) ? new MeshError(CODE_OF[e.kind], e.message, { cause: e }) : e;
}
